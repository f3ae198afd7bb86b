"""In-range images unlike a model's training data, for finiteness checks."""

import numpy as np


def atypical_images(digits, count, seed=0):
  """{kind: uint8 [count, H, W, C]}: blank, saturated, uniform noise, and
  the given typical images inverted, shifted 3 pixels sideways (wrapping
  around) and cropped (a random half-size window scaled back up)."""
  rng = np.random.default_rng(seed)
  digits = np.asarray(digits, np.uint8)
  picks = digits[rng.integers(0, len(digits), count)]
  shape = picks.shape
  height, width = shape[1:3]
  rows = rng.integers(0, height // 2, count)
  cols = rng.integers(0, width // 2, count)
  cropped = np.stack([
      np.repeat(np.repeat(d[r:r + height // 2, c:c + width // 2], 2, 0), 2,
                1)[:height, :width] for d, r, c in zip(picks, rows, cols)])
  return {
      'blank': np.zeros(shape, np.uint8),
      'saturated': np.full(shape, 255, np.uint8),
      'noise': rng.integers(0, 256, shape).astype(np.uint8),
      'inverted': 255 - picks,
      'shifted': np.roll(picks, 3 * rng.choice([-1, 1]), axis=2),
      'cropped': cropped.astype(np.uint8),
  }
