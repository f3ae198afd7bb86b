"""What a training run leaves in its output folder, and how to reload it.

  config.json           model + data configuration (enough to rebuild)
  model.weights.h5      best weights so far (lowest training bits/dim)
  checkpoints/          weights, optimizer state (and the weight average) of
                        the latest steps, and compute.json: what a rerun of
                        the same command resumes from
  history.csv           bits/dim per epoch, with the step reached
  samples.png, bpd.png  sample grid and learning curve, refreshed per epoch
  logs/                 TensorBoard
"""

import os

import numpy as np

import tfp_invconv as ti
from tfp_invconv import flows
from tfp_invconv.dequantization import VariationalDequantizer
from tfp_invconv.model import FlowModel
from training import files
from training import presets

CONFIG = 'config.json'
WEIGHTS = 'model.weights.h5'


def build_model(config, **flow_options):
  """The FlowModel of a run. `image_shape` is the data's; images whose
  sides the levels' squeezes do not divide are padded (FlowModel).
  `flow_options` are flow arguments that leave the weights as they are
  (e.g. `solver`)."""
  options = presets.model_options(config)
  pixel_shape = tuple(config['image_shape'])
  if options.pop('model') == 'pac':
    scales = options.pop('levels')
    image_shape = flows.padded_image_shape(pixel_shape, scales + 1)
    flow = ti.PACFlow(image_shape, scales=scales, **options, **flow_options)
  else:
    image_shape = flows.padded_image_shape(pixel_shape, options['levels'])
    flow = ti.CInCFlow(image_shape, **options, **flow_options)
  dequantizer = None
  if config.get('dequantization') == 'variational':
    # Runs saved before the logistic base name none: theirs was Gaussian.
    dequantizer = VariationalDequantizer(
        image_shape, seed=config.get('seed'),
        base=config.get('dequantizer_base') or 'gaussian')
  noise = 'center' if config.get('dequantization') == 'center' else None
  return FlowModel(flow, num_levels=config['num_levels'],
                   seed=config.get('seed'), dequantizer=dequantizer,
                   noise=noise, pixel_shape=pixel_shape,
                   base_df=config.get('base_df'),
                   mixed_precision=config.get('mixed_precision', False))


# What a checkpoint's weights depend on: a run resumed with other values
# cannot restore them.
ARCHITECTURE_KEYS = presets.MODEL_KEYS + ('image_shape', 'num_levels',
                                          'dequantization', 'dequantizer_base')


def read_config(run_dir):
  """The run's config.json, or None for a folder that has none."""
  return files.read_json(os.path.join(run_dir, CONFIG))


def architecture_change(saved, config):
  """A one-line description of how `config` differs from a run's saved
  configuration in what its weights depend on, or None."""
  saved = dict(presets.model_options(saved), **saved)
  config = dict(presets.model_options(config), **config)
  changes = [f'{k}={saved.get(k)!r} -> {config.get(k)!r}'
             for k in ARCHITECTURE_KEYS if saved.get(k) != config.get(k)]
  return ', '.join(changes) or None


def with_segment(saved, config, step):
  """`config`, plus, when it resumes the run `saved` at `step` with other
  settings (a lower learning rate, say), a segment recording from which
  step each changed setting applied: [{'from_step': step, key: [old,
  new]}], after the earlier segments."""
  if not saved:
    return config
  ignored = ('segments',)
  changed = {k: [saved.get(k), v] for k, v in config.items()
             if k not in ignored and saved.get(k) != v}
  segments = saved.get('segments', []) + (
      [dict(from_step=step, **changed)] if changed else [])
  return dict(config, **({'segments': segments} if segments else {}))


def save_config(out, config):
  """Writes config.json atomically."""
  files.write_json(os.path.join(out, CONFIG), config, indent=2)


def load_model(run_dir, mixed_precision=False, **flow_options):
  """The model of a training run, with its best weights (`flow_options` as
  for `build_model`). Its conditioners run in float32 unless
  `mixed_precision`, whatever precision it trained in: decoding and
  sampling are exact to round-off only in float32 (docs/mixed_precision.md)."""
  config = read_config(run_dir)
  if config is None:
    raise FileNotFoundError(f'{run_dir} is not a training output folder '
                            f'(no {CONFIG})')
  model = build_model(dict(config, mixed_precision=mixed_precision),
                      **flow_options)
  model.load_weights(os.path.join(run_dir, WEIGHTS))
  return model, config


def to_grey_uint8(pixels, num_levels):
  """Integer pixels in [0, L) -> 0..255 for display."""
  scaled = np.asarray(pixels, np.float32) * 255. / (num_levels - 1)
  return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


OVERFLOW_RED = (220, 30, 30)


def grid_image(pixels, num_levels, rows, finite=None, gap=1):
  """Images [N, H, W, C] as one uint8 RGB grid of `rows` rows with `gap`
  white pixels between tiles. An image that `finite` marks False (NaN or
  Inf values) is a red cross on white, never a plausible dark image."""
  images = to_grey_uint8(pixels, num_levels)
  n, h, w, c = images.shape
  images = np.broadcast_to(images, (n, h, w, 3)) if c == 1 else images
  cols = -(-n // rows)
  grid = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), 255,
                 np.uint8)
  for i, image in enumerate(images):
    r, col = divmod(i, cols)
    top, left = r * (h + gap), col * (w + gap)
    grid[top:top + h, left:left + w] = (
        image if finite is None or finite[i] else _red_cross(h, w))
  return grid


def _red_cross(h, w):
  tile = np.full((h, w, 3), 255, np.uint8)
  rows = np.arange(h)
  for columns in (rows * (w - 1) // max(h - 1, 1),
                  (w - 1) - rows * (w - 1) // max(h - 1, 1)):
    tile[rows, columns] = OVERFLOW_RED
  return tile


def save_grid(path, pixels, num_levels, rows, title=None, row_labels=None,
              finite=None, gap=1):
  """Saves `grid_image` as a PNG, with an optional label left of each row;
  the title counts the images `finite` marks as overflowed."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  grid = grid_image(pixels, num_levels, rows, finite, gap)
  h = np.shape(pixels)[1]
  cols = -(-len(pixels) // rows)
  overflowed = 0 if finite is None else int(np.sum(~np.asarray(finite)))
  if overflowed:
    title = (f'{title}: ' if title else '') + (
        f'{overflowed} of {len(pixels)} overflowed (red crosses)')
  fig, ax = plt.subplots(figsize=(cols * 0.6 + 1.2, rows * 0.6 + 0.6))
  ax.imshow(grid, interpolation='nearest')
  ax.set_xticks([])
  ax.set_yticks([r * (h + gap) + h / 2 for r in range(rows)])
  ax.set_yticklabels(row_labels or [''] * rows, fontsize=8)
  ax.tick_params(length=0)
  for spine in ax.spines.values():
    spine.set_visible(False)
  if title:
    ax.set_title(title, fontsize=9)
  fig.savefig(path, dpi=100, bbox_inches='tight')
  plt.close(fig)


def save_curve(path, history):
  """bits/dim against the training step (train and, when present,
  validation)."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 3.2))
  for key, label in (('bpd', 'train'), ('val_bpd', 'validation')):
    if history.get(key) and len(history[key]) == len(history.get('step', ())):
      ax.plot(history['step'], history[key], marker='o', label=label)
  ax.set_xlabel('training step')
  ax.set_ylabel('bits / dim')
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
