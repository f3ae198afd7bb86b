"""Sampling and log-likelihood time of whole flows, side by side with Glow.

For each conv in {1x1 (Glow), emerging, cinc} x coupling in {affine, quad}:
the median time to sample 100 CIFAR-10-shaped images (after a warm-up), the
time of `log_prob` on 100 images, each relative to Glow with the same
coupling in the same run, and the share of sampling time spent in the
convolution inverses (the sum of each convolution's inverse timed alone at
its level shape). Randomly initialised weights; CInC/emerging kernels get
off-centre taps of std 0.05.

  python -m benchmarks.sampling --threads 1 --arch cifar10
  python -m benchmarks.sampling --threads 1 --arch small_d4 small_d8
"""

import itertools

import numpy as np

from benchmarks import common
from training import provenance

ARCHS = {'cifar10': dict(levels=3, depth=32, hidden_width=512),
         'small_d4': dict(levels=3, depth=4, hidden_width=512),
         'small_d8': dict(levels=3, depth=8, hidden_width=512)}
CONVS = ('1x1', 'emerging', 'cinc')
COUPLINGS = ('affine', 'quad')
IMAGE = (32, 32, 3)


def _flow(arch, conv, coupling, memory_saving=False):
  import tfp_invconv as ti
  from tfp_invconv import bijectors as tfib
  flow = ti.CInCFlow(IMAGE, conv=conv, coupling=coupling,
                     memory_saving=memory_saving, **ARCHS[arch])
  rng = np.random.default_rng(0)
  for b in tfib.base.walk_bijectors(flow):
    if isinstance(b, tfib.EmergingConv2D):
      convs = [b.down_right, b.up_left]
    elif isinstance(b, tfib.CInCConv2D):
      convs = [b]
    else:
      continue
    for c in convs:
      kernel = c.trainable_variables[0]
      kernel.assign(rng.normal(0., 0.05, kernel.shape).astype(np.float32))
  return flow


def _conv_inverse_seconds(flow, batch, repeats):
  """Sum over the flow's convolutions of their inverse, timed alone."""
  import tensorflow as tf
  from tfp_invconv import bijectors as tfib
  kinds = (tfib.CInCConv2D, tfib.EmergingConv2D, tfib.Invertible1x1Conv)
  total = 0.
  for b in tfib.base.walk_bijectors(flow):
    if not isinstance(b, kinds):
      continue
    shape = _level_shape(b.event_shape_in[-1])
    y = tf.random.stateless_normal((batch,) + shape, seed=[1, 2])
    inverse = tf.function(lambda t, b=b: b.inverse(t))
    total += common.median_seconds(lambda: inverse(tf.identity(y)).numpy(),
                                   repeats, warmup=1)
  return total


def measure(arch, conv, coupling, batch, repeats):
  import tensorflow as tf
  import tfp_invconv as ti
  flow = _flow(arch, conv, coupling)
  dist = ti.flow_distribution(flow)
  z = tf.random.stateless_normal([batch, flow.latent_size], seed=[0, 1])
  sample = tf.function(lambda t: flow.forward(t))
  log_prob = tf.function(lambda t: dist.log_prob(t))
  images = sample(z)
  return {
      'sample': common.median_seconds(lambda: sample(tf.identity(z)).numpy(),
                                      repeats, warmup=1),
      'log_prob': common.median_seconds(
          lambda: log_prob(tf.identity(images)).numpy(), repeats, warmup=1),
      'conv_inverse': _conv_inverse_seconds(flow, batch, repeats),
  }


def _level_shape(channels):
  """(H, W, C) at the level whose convolutions have `channels` channels:
  level l sees (H / 2^l, W / 2^l, 4C * 2^(l-1))."""
  height, width, base = IMAGE
  level = int(np.log2(channels / (4 * base))) + 1
  return (height >> level, width >> level, channels)


def every_model(args, measure_one):
  """Yields (arch, conv, coupling, result, Glow's result with that coupling)
  over the grid, Glow first for each coupling."""
  for arch in args.arch:
    results = {}
    for coupling, conv in itertools.product(args.couplings, CONVS):
      result = results[conv, coupling] = measure_one(
          arch, conv, coupling, args.batch, args.repeats)
      yield arch, conv, coupling, result, results['1x1', coupling]


def grid_options(name, description, batch, argv):
  """Parses the options of a benchmark over the model grid; returns (args,
  command line, results path)."""
  parser = common.make_parser(name, description, batch=batch, repeats=3,
                              archs=ARCHS)
  parser.add_argument('--couplings', nargs='+', default=list(COUPLINGS),
                      choices=COUPLINGS)
  args, command = common.parse(parser, argv)
  out = args.out or (
      f'benchmarks/results/{name}_{"_".join(args.arch)}'
      f'_{"_".join(args.couplings)}_threads{args.threads or "all"}.md')
  return args, command, out


def main(argv=None):
  args, command, out = grid_options('sampling', __doc__.split('\n')[0],
                                    100, argv)
  table = common.ResultsTable(
      out, 'Sampling and log_prob time', command,
      provenance.machine(args.threads),
      ['arch', 'conv', 'coupling', f'sample {args.batch} s', 'vs Glow',
       f'log_prob {args.batch} s', 'vs Glow', 'conv inverses'],
      notes=['"vs Glow": ratio to conv=1x1 with the same coupling, same run '
             '(Glow-quad is the reference for CInC-quad). "conv inverses": '
             'sum of every convolution inverse timed alone at its level '
             f'shape, as a share of the sampling time. Median of '
             f'{args.repeats} runs after one warm-up, float32, '
             'inside `tf.function`.'])
  for arch, conv, coupling, r, glow in every_model(args, measure):
    table.add([arch, conv, coupling, f'{r["sample"]:.2f}',
               f'{r["sample"] / glow["sample"]:.2f}',
               f'{r["log_prob"]:.2f}',
               f'{r["log_prob"] / glow["log_prob"]:.2f}',
               f'{100 * r["conv_inverse"] / r["sample"]:.0f}%'])
  print(f'wrote {out}')


if __name__ == '__main__':
  main()
