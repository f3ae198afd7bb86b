"""SymmetricConv: forward vs inverse time, DCT-I vs orthonormal DCT-II.

At the CIFAR-10 level shapes, batch 100, inside `tf.function`: the median
time of forward and inverse, their ratio, and the max round-trip error on
standard-normal inputs for a random spectrum (log w ~ N(0, 0.5)).

  python -m benchmarks.symmetric --threads 1
"""

import numpy as np

from benchmarks import common
from training import provenance

SHAPES = ((16, 16, 12), (8, 8, 24), (4, 4, 48))


def measure(shape, dct_type, batch, repeats):
  import tensorflow as tf
  from tfp_invconv.bijectors import SymmetricConv
  layer = SymmetricConv(shape, dct_type=dct_type)
  layer.trainable_variables[0].assign(
      np.random.default_rng(0).normal(0., 0.5, shape).astype(np.float32))
  x = tf.random.stateless_normal((batch,) + shape, seed=[0, 0])
  forward = tf.function(lambda t: layer.forward(t))
  inverse = tf.function(lambda t: layer.inverse(t))
  y = forward(x)
  return {
      'forward': common.median_seconds(
          lambda: forward(tf.identity(x)).numpy(), repeats),
      'inverse': common.median_seconds(
          lambda: inverse(tf.identity(y)).numpy(), repeats),
      'error': float(tf.reduce_max(tf.abs(inverse(tf.identity(y)) - x))),
  }


def main(argv=None):
  parser = common.make_parser(
      'symmetric', __doc__.split('\n')[0], batch=100, repeats=30,
      out='benchmarks/results/symmetric.md')
  args, command = common.parse(parser, argv)
  table = common.ResultsTable(
      args.out, 'SymmetricConv: inverse vs forward', command,
      provenance.machine(args.threads),
      ['DCT', 'H x W x C', 'forward ms', 'inverse ms', 'inverse / forward',
       'max round-trip error'],
      notes=[f'Batch {args.batch}, float32, median of {args.repeats} runs '
             'after warm-up, inside `tf.function`; spectrum log w ~ N(0, 0.5), '
             'inputs standard normal.'])
  for dct_type in (2, 1):
    for shape in SHAPES:
      r = measure(shape, dct_type, args.batch, args.repeats)
      table.add([f'DCT-{"II (orthonormal)" if dct_type == 2 else "I"}',
                 'x'.join(map(str, shape)), f'{r["forward"] * 1e3:.3f}',
                 f'{r["inverse"] * 1e3:.3f}',
                 f'{r["inverse"] / r["forward"]:.2f}', f'{r["error"]:.1e}'])
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
