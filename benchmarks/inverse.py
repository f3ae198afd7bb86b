"""Forward convolution vs exact inverse, at the CIFAR-10 level shapes.

For CInCConv2D (k = 3; the default LU centre, a random rotation, and the
paper's triangular centre with a unit diagonal) and EmergingConv2D, batch
100, realistic kernels (every free tap drawn with std 0.1), all inside
`tf.function`: the median time of the forward convolution and of the
inverse with each solver (row by row, anti-diagonal wavefront,
block-Jacobi), their ratios, and the max round-trip error on unit-scale
(standard normal) inputs. 'row-conv' is what `solver='auto'` runs on CPU,
'rows' (four ops a step) what it runs on GPU and TPU.

  python -m benchmarks.inverse --threads 1
"""

import numpy as np

from benchmarks import common
from training import provenance

SHAPES = ((16, 16, 12), (8, 8, 24), (4, 4, 48))


KINDS = {'cinc': 'CInCConv2D (LU centre)',
         'cinc-triangular': 'CInCConv2D (triangular centre)',
         'emerging': 'EmergingConv2D'}


def _layer(kind, channels, solver, stddev):
  from tfp_invconv import bijectors as tfib
  if kind.startswith('cinc'):
    centre = 'triangular' if kind == 'cinc-triangular' else 'lu'
    layer = tfib.CInCConv2D(channels, centre=centre, solver=solver,
                            kernel_stddev=stddev)
  else:
    layer = tfib.EmergingConv2D(channels, solver=solver)
  rng = np.random.default_rng(0)
  for v in layer.trainable_variables:
    if v.shape.rank == 4:  # kernels; log-diagonals stay at 0
      v.assign(rng.normal(0., stddev, v.shape).astype(np.float32))
  return layer


SOLVERS = {'row_conv': 'row-conv', 'rows': 'rows', 'wavefront': 'wavefront',
           'jacobi': 'block-Jacobi'}


def measure(kind, shape, batch, repeats, rounds, stddev):
  """Seconds of the forward call and of each solver's inverse (the same
  weights for all) and each solver's round-trip error. Each time is the
  median of `repeats` back-to-back calls; `rounds` rounds time every call
  in turn and the median round counts, so that drift in the machine's
  speed reaches every ratio's numerator and denominator alike."""
  import statistics
  import tensorflow as tf
  x = tf.random.stateless_normal((batch,) + shape, seed=[0, 0])
  reference = _layer(kind, shape[-1], 'row_conv', stddev)
  forward = tf.function(reference.forward)
  y = forward(x)
  calls = {'forward': lambda: forward(tf.identity(x)).numpy()}
  row = {}
  for solver in SOLVERS:
    layer = _layer(kind, shape[-1], solver, stddev)
    for src, dst in zip(reference.variables, layer.variables):
      dst.assign(src)
    inverse = tf.function(layer.inverse)
    calls[solver] = lambda inverse=inverse: inverse(tf.identity(y)).numpy()
    row[f'{solver}_error'] = float(tf.reduce_max(tf.abs(
        inverse(tf.identity(y)) - x)))
  times = {name: [] for name in calls}
  for _ in range(rounds):
    for name, call in calls.items():
      times[name].append(common.median_seconds(call, repeats))
  row.update({name: statistics.median(t) for name, t in times.items()})
  return row


def main(argv=None):
  parser = common.make_parser(
      'inverse', __doc__.split('\n')[0], batch=100, repeats=20,
      out='benchmarks/results/inverse.md')
  parser.add_argument('--stddev', type=float, default=0.1)
  parser.add_argument('--rounds', type=int, default=5)
  args, command = common.parse(parser, argv)
  table = common.ResultsTable(
      args.out, 'Convolution inverse vs forward', command,
      provenance.machine(args.threads),
      ['layer', 'H x W x C', 'forward ms']
      + [f'{name} ms / fwd' for name in SOLVERS.values()]
      + [f'max err {name}' for name in SOLVERS.values()],
      notes=[f'Batch {args.batch}, float32, each call inside `tf.function`; '
             f'each time the median of {args.repeats} back-to-back calls '
             f'after warm-up, taken in {args.rounds} rounds that time the '
             'forward call and every solver in turn, and the median round '
             'reported (drift in the machine speed reaches every ratio\'s '
             'numerator and denominator alike). Kernels: every '
             f'free tap N(0, {args.stddev}); the LU centre is a random '
             'rotation, the triangular centres have a unit diagonal. '
             "`solver='auto'` (the default) runs row-conv on CPU and rows "
             'on GPU and TPU. Errors: max |inverse(forward(x)) - x| on standard-normal x; '
             'their size is set by the conditioning of the drawn kernel '
             '(see tests/test_solvers.py), not by the solver.'])
  for kind in KINDS:
    for shape in SHAPES:
      r = measure(kind, shape, args.batch, args.repeats, args.rounds,
                  args.stddev)
      table.add(
          [KINDS[kind], 'x'.join(map(str, shape)), f'{r["forward"] * 1e3:.2f}']
          + [f'{r[s] * 1e3:.2f} / {r[s] / r["forward"]:.2f}x'
             for s in SOLVERS]
          + [f'{r[f"{s}_error"]:.1e}' for s in SOLVERS])
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
