"""Integer pixels <-> the continuous images a flow models.

Pixels k in {0, ..., L-1} become x = (k + u) / L - 0.5 with u ~ U[0, 1)
(uniform dequantization), and

  bpd = -log p(x) / (D ln 2) + log2(L),   D = H * W * C,

an upper bound on the discrete model's code length in bits per dimension.
With `num_levels=None` the data are continuous vectors or images (e.g. for
`SymmetricConvVectorFlow`): no dequantization, bpd = -log p(x) / (D ln 2).

Images smaller than the flow's (28 x 28 MNIST in a flow of three squeezes,
32 x 32) are padded with pixels of level 0 before dequantization. A
discrete model of the padded image gives P(k) >= P(k, padding = 0), so

  bpd = (-log p(x_padded) / ln 2 + D_padded * log2(L)) / D,

with D the real image's dimension, is again an upper bound on the code
length of the real pixels: the padding's cost is counted, not dropped.
"""

import math

import keras
import tensorflow as tf

NOISES = ('uniform', 'variational', 'center')


class PixelCodec:
  """Checks, pads, dequantizes and re-quantizes the images of one flow.

  ```python
  codec = PixelCodec((32, 32, 1), num_levels=256, pixel_shape=(28, 28, 1))
  x, log_q = codec.dequantize(pixels, 'uniform')    # [N, 32, 32, 1] floats
  bpd = codec.bits_per_dim(log_prob_of_x - log_q)
  pixels, finite = codec.to_pixels(decoded)          # uint8, bool per image
  ```
  """

  def __init__(self, image_shape, num_levels=256, pixel_shape=None,
               dequantizer=None, seed_generator=None, dtype=tf.float32,
               validate_args=False):
    """Args:
      image_shape: the flow's (H, W, C), or (D,) for vectors.
      num_levels: L, or None for continuous data.
      pixel_shape: (H, W, C) of the integer images when smaller than
        `image_shape` (padded with level 0 at the bottom and right).
      dequantizer: a `VariationalDequantizer`, for noise='variational'.
      seed_generator: the `keras.random.SeedGenerator` of the uniform noise.
      dtype: of the continuous images.
      validate_args: a NaN or Inf in `to_pixels` raises instead of being
        flagged in the mask.
    """
    self.image_shape = tuple(image_shape)
    self.num_levels = None if num_levels is None else int(num_levels)
    self.pixel_shape = _checked_pixel_shape(pixel_shape, self.image_shape,
                                            self.num_levels)
    self.dequantizer = dequantizer
    self.seed_generator = seed_generator or keras.random.SeedGenerator()
    self.dtype = dtype
    self.validate_args = validate_args

  @property
  def dimensions(self):
    """D of bits/dim: the dimension of the (unpadded) data."""
    return math.prod(self.pixel_shape)

  def dequantize(self, pixels, noise='uniform'):
    """(x, log q(u | k) per example) with u from `noise`: 'uniform'
    (U[0,1), log q = 0), 'variational' (the learned q(u | k)) or 'center'
    (u = 1/2)."""
    k = self._padded(tf.cast(self.checked_pixels(pixels), self.dtype))
    log_q = tf.zeros(tf.shape(k)[:-len(self.image_shape)], self.dtype)
    if self.num_levels is None:
      return k, log_q
    if noise == 'center':
      u = 0.5
    elif noise == 'uniform':
      u = keras.random.uniform(tf.shape(k), dtype=self.dtype,
                               seed=self.seed_generator)
    elif noise == 'variational' and self.dequantizer is not None:
      u, log_q = self.dequantizer.sample(k / self.num_levels - 0.5)
    else:
      raise ValueError(f"noise must be 'uniform', 'center' or (with a "
                       f"dequantizer) 'variational'; got {noise!r}.")
    return (k + u) / self.num_levels - 0.5, log_q

  def bits_per_dim(self, log_prob):
    """Bits/dim of the pixels from log p(x) - log q(u | k) of their
    dequantized images (module docstring)."""
    bits = -log_prob / math.log(2.)
    if self.num_levels is not None:
      bits += math.prod(self.image_shape) * math.log2(self.num_levels)
    return bits / self.dimensions

  def to_pixels(self, x):
    """(pixels, finite): continuous images -> integer pixels in [0, L)
    (uint8 when L <= 256) cropped to `pixel_shape`, and per image whether
    every value was finite. Values outside [-0.5, 0.5) are clipped to the
    first or last level; a NaN or Inf value comes out as level 0 (or
    raises, with `validate_args`). Continuous data are returned as they
    are."""
    x = tf.convert_to_tensor(x)
    if self.validate_args:
      x = tf.debugging.assert_all_finite(
          x, 'to_pixels: the decoded images contain NaN or Inf values')
    rank = len(self.image_shape)
    finite = tf.reduce_all(tf.math.is_finite(x), axis=list(range(-rank, 0)))
    if self.num_levels is None:
      return x, finite
    x = self._cropped(x)
    x = tf.where(tf.math.is_finite(x), x, -0.5)
    k = tf.clip_by_value(tf.floor((x + 0.5) * self.num_levels), 0.,
                         self.num_levels - 1.)
    return tf.cast(k, tf.uint8 if self.num_levels <= 256 else tf.int32), finite

  def checked_pixels(self, pixels):
    """Integer pixels in [0, L), else one clear error (ValueError for a
    wrong dtype or shape, InvalidArgumentError for values out of range)."""
    pixels = _checked_images(pixels, self.pixel_shape)
    if self.num_levels is None:
      return self.checked_continuous(pixels)
    if not (pixels.dtype.is_integer or pixels.dtype.is_bool):
      raise ValueError(
          f'expected integer pixels in [0, {self.num_levels}) (e.g. uint8), '
          f'got {pixels.dtype.name}; continuous images in [-0.5, 0.5] go to '
          'log_prob.')
    wide = tf.cast(pixels, tf.int64)
    message = f'pixels must lie in [0, {self.num_levels})'
    with tf.control_dependencies([
        tf.debugging.assert_non_negative(wide, message=message),
        tf.debugging.assert_less(
            wide, tf.constant(self.num_levels, tf.int64), message=message)]):
      return tf.identity(pixels)

  def checked_continuous(self, x):
    """Finite float data (in [-0.5, 0.5] for images), else one clear error."""
    x = _checked_images(x, self.image_shape)
    if not x.dtype.is_floating:
      raise ValueError(f'expected continuous (float) data, got '
                       f'{x.dtype.name}; integer pixels go to bits_per_dim.')
    x = tf.debugging.assert_all_finite(x, 'the data contain NaN or Inf values')
    if self.num_levels is None:
      return x
    message = 'continuous images must lie in [-0.5, 0.5]'
    half = tf.constant(0.5, x.dtype)
    with tf.control_dependencies([
        tf.debugging.assert_greater_equal(x, -half, message=message),
        tf.debugging.assert_less_equal(x, half, message=message)]):
      return tf.identity(x)

  def _padded(self, k):
    if self.pixel_shape == self.image_shape:
      return k
    rank = len(self.image_shape)
    extra = [[0, 0]] * (k.shape.rank - rank) + [
        [0, full - real] for full, real in zip(self.image_shape,
                                               self.pixel_shape)]
    return tf.pad(k, extra)

  def _cropped(self, x):
    if self.pixel_shape == self.image_shape:
      return x
    height, width, channels = self.pixel_shape
    return x[..., :height, :width, :channels]


def images_of(data):
  """The images of a batch that may carry labels: x, (x,), (x, y) or
  {'image': x, ...}."""
  if isinstance(data, (tuple, list)):
    return data[0]
  if isinstance(data, dict):
    return data['image']
  return data


def int32_images(dataset):
  """The dataset's images (labels dropped) as int32: Keras all-reduces a
  first batch across workers, and collectives reject uint8."""
  return dataset.map(
      lambda *batch: tf.cast(images_of(batch if len(batch) > 1 else batch[0]),
                             tf.int32))


def _checked_images(images, shape):
  images = tf.convert_to_tensor(images)
  rank = len(shape)
  if images.shape.rank is not None and (
      images.shape.rank < rank
      or not images.shape[-rank:].is_compatible_with(shape)):
    raise ValueError(f'expected data of shape [..., '
                     f'{", ".join(map(str, shape))}], got {images.shape}.')
  return images


def _checked_pixel_shape(pixel_shape, image_shape, num_levels):
  if pixel_shape is None:
    return image_shape
  pixel_shape = tuple(int(d) for d in pixel_shape)
  if pixel_shape == image_shape:
    return pixel_shape
  if (num_levels is None or len(pixel_shape) != 3
      or pixel_shape[-1] != image_shape[-1]
      or any(not 0 < p <= f for p, f in zip(pixel_shape, image_shape))):
    raise ValueError(
        f'pixel_shape {pixel_shape} cannot be padded to the flow\'s image '
        f'shape {image_shape}: padding needs integer images (num_levels) '
        'with the same channels and no side larger than the flow\'s.')
  return pixel_shape
