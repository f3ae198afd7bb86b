"""PAC's masked convolution against a conv2d of the same filter.

At every shape a PAC layer of the MNIST PAC benchmark's model sees
(`benchmarks.pac` defaults, batch 64, K = 5): the masked convolution of one
triangle (U, the larger: K*K/2 + 1 taps) given its kernel maps, forward and
forward + backward (gradients with respect to the input, the filters and
the kernel maps), against `tf.nn.conv2d` of the same K x K x C x C filter
('SAME', gradients with respect to the input and the filter). Then one
training step of that PAC flow against its realnvp variant (the same
coupling without convolutions, mixture components matched to the same
parameter count), as `benchmarks.pac` trains them.

  python -m benchmarks.pac_conv --threads 1
"""

import argparse

import numpy as np

from benchmarks import common
from training import provenance

IMAGE = (28, 28, 1)
LEVELS = 2
KERNEL_SIZE = 5


def _suite_args():
  from benchmarks import pac
  parser = argparse.ArgumentParser()
  pac.add_options(parser)
  args = parser.parse_args([])
  args.suite = 'benchmarks.pac'
  return args


def _model(variant, components, batch):
  import keras
  from benchmarks import pac
  from tfp_invconv.model import FlowModel
  flow = pac.make_flow(IMAGE, variant, LEVELS, _suite_args(), components)
  model = FlowModel(flow, pixel_shape=IMAGE)
  model.compile(optimizer=keras.optimizers.Adamax(1e-3))
  pixels = np.random.default_rng(0).integers(0, 256, (batch,) + IMAGE,
                                             dtype=np.uint8)
  model.initialize(pixels)
  model.optimizer.build(model.trainable_variables)
  return model, pixels


def pac_shapes(batch):
  """The [H, W, C] of every PAC layer the benchmark model runs, once each."""
  from tfp_invconv.bijectors import pac_conv
  seen = []
  original = pac_conv.PixelAdaptiveConv.__init__

  def recording(self, filters, log_diagonal, log_scale, *args, **kwargs):
    shape = tuple(int(d) for d in log_scale.shape[1:])
    if shape not in seen:
      seen.append(shape)
    original(self, filters, log_diagonal, log_scale, *args, **kwargs)

  model, pixels = _model('pac-raster', _suite_args().components, batch)
  pac_conv.PixelAdaptiveConv.__init__ = recording
  try:
    model.test_step(pixels)
  finally:
    pac_conv.PixelAdaptiveConv.__init__ = original
  return seen


def _operands(shape, batch):
  import tensorflow as tf
  rng = np.random.default_rng(0)
  h, w, c = shape
  normal = lambda *s: tf.constant(rng.normal(size=s), tf.float32)
  x = normal(batch, h, w, c)
  filters = normal(KERNEL_SIZE, KERNEL_SIZE, c, c) * 0.05
  maps = tf.exp(-tf.abs(normal(KERNEL_SIZE ** 2, batch, h, w, c)))
  return x, filters, maps


def masked_conv_times(shape, batch, repeats):
  """Median seconds of the PAC masked conv and of conv2d, forward and
  forward + backward."""
  import tensorflow as tf
  from tfp_invconv.bijectors import PixelAdaptiveConv
  x, filters, maps = _operands(shape, batch)
  log_scale = tf.zeros((batch,) + shape)
  log_diagonal = tf.zeros(shape[-1:])

  def masked(x, filters, maps):
    pac = PixelAdaptiveConv(filters, log_diagonal, log_scale)
    return pac.masked_conv(x, tf.unstack(maps), 'upper')

  def conv(x, filters, maps):
    del maps
    return tf.nn.conv2d(x, filters, 1, 'SAME')

  def with_gradients(fn):
    def run(x, filters, maps):
      with tf.GradientTape() as tape:
        tape.watch([x, filters, maps])
        loss = tf.reduce_sum(tf.square(fn(x, filters, maps)))
      return tape.gradient(loss, [x, filters, maps],
                           unconnected_gradients='zero')
    return run

  times = {}
  for name, fn in (('pac', masked), ('conv2d', conv)):
    for kind, call in (('forward', fn), ('backward', with_gradients(fn))):
      compiled = tf.function(call)
      times[name, kind] = common.median_seconds(
          lambda: tf.nest.map_structure(
              lambda t: t.numpy(), compiled(x, filters, maps)), repeats)
  return times


def train_step_seconds(variant, components, batch, repeats):
  import tensorflow as tf
  model, pixels = _model(variant, components, batch)
  step = tf.function(model.train_step)
  batch_tensor = tf.constant(pixels)
  return common.median_seconds(lambda: float(step(batch_tensor)['bpd']),
                               repeats, warmup=1)


def matched_components(variant):
  from benchmarks import pac, quality
  args = _suite_args()
  target = quality.count_params(args, IMAGE, pac.REFERENCE, LEVELS,
                                args.components)
  return quality.matched_knob(args, IMAGE, variant, LEVELS, target)


def main(argv=None):
  parser = common.make_parser(
      'pac_conv', __doc__.split('\n')[0], batch=64, repeats=20,
      out='benchmarks/results/pac_conv.md')
  parser.add_argument('--train-repeats', type=int, default=5)
  args, command = common.parse(parser, argv)
  table = common.ResultsTable(
      args.out, "PAC's masked convolution vs conv2d", command,
      provenance.machine(args.threads),
      ['H x W x C', 'conv2d forward ms', 'PAC forward ms', 'PAC / conv2d',
       'conv2d fwd+bwd ms', 'PAC fwd+bwd ms', 'PAC / conv2d (fwd+bwd)'],
      notes=[f'Batch {args.batch}, float32, K = {KERNEL_SIZE}, median of '
             f'{args.repeats} calls inside `tf.function` after warm-up. The '
             'PAC masked convolution is `PixelAdaptiveConv.masked_conv` of '
             'the upper triangle given its kernel maps; fwd+bwd also '
             'computes the gradients with respect to the input, the filters '
             '(and, for PAC, the kernel maps). Shapes: every PAC layer of '
             "the MNIST PAC benchmark's model (`benchmarks.pac` "
             'defaults).'])
  for shape in pac_shapes(args.batch):
    t = masked_conv_times(shape, args.batch, args.repeats)
    ms = lambda key: f'{t[key] * 1e3:.2f}'
    table.add(['x'.join(map(str, shape)), ms(('conv2d', 'forward')),
               ms(('pac', 'forward')),
               f'{t["pac", "forward"] / t["conv2d", "forward"]:.2f}x',
               ms(('conv2d', 'backward')), ms(('pac', 'backward')),
               f'{t["pac", "backward"] / t["conv2d", "backward"]:.2f}x'])
  steps = {variant: train_step_seconds(
      variant, matched_components(variant), args.batch, args.train_repeats)
           for variant in ('pac-raster', 'realnvp')}
  table.add_note(
      f'Training step (batch {args.batch}, median of {args.train_repeats}): '
      f'PAC raster {steps["pac-raster"]:.3f} s, realnvp '
      f'{steps["realnvp"]:.3f} s, '
      f'{steps["pac-raster"] / steps["realnvp"]:.2f}x.')
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
