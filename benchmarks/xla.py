"""XLA (jit_compile=True) against plain TensorFlow graphs on CPU.

For each conv in {1x1 (Glow), emerging, cinc} x coupling: the median time to
sample a batch (the decode graph of `FlowModel`, with its exact inverses)
and of one training step (`fit` on one batch, Adamax), plain and compiled
with XLA, and the first call's time of each (tracing plus, with XLA,
compilation). Same randomly initialised weights in both; CInC/emerging
kernels get off-centre taps of std 0.05 as in `benchmarks.sampling`. XLA is
the path GPUs and TPUs take; on a CPU it fuses the element-wise work between
the convolutions and matrix products.

  python -m benchmarks.xla --threads 1 --arch cifar10
"""

import time

from benchmarks import common
from benchmarks import sampling


def _model(arch, conv, coupling, jit_compile):
  import keras
  from tfp_invconv.model import FlowModel
  keras.utils.set_random_seed(0)
  model = FlowModel(sampling._flow(arch, conv, coupling), num_levels=256,
                    seed=0)
  model.compile(optimizer=keras.optimizers.Adamax(1e-3),
                jit_compile=jit_compile)
  return model


def _first_and_median(fn, repeats):
  start = time.perf_counter()
  fn()
  first = time.perf_counter() - start
  return first, common.median_seconds(fn, repeats, warmup=0)


def measure(arch, conv, coupling, batch, train_batch, repeats):
  import numpy as np
  import tensorflow as tf
  pixels = np.random.default_rng(0).integers(
      0, 256, (train_batch,) + sampling.IMAGE)
  result = {}
  for jit_compile in (False, True):
    model = _model(arch, conv, coupling, jit_compile)
    z = tf.random.stateless_normal([batch, model.flow.latent_size], [0, 1])
    result['sample', jit_compile] = _first_and_median(
        lambda: model.decode(tf.identity(z)).numpy(), repeats)
    data = tf.data.Dataset.from_tensors(pixels).repeat()
    iterator = iter(data)
    # The step `fit` runs (one `fit` call per step would retrace).
    model.make_train_function()
    step = model.train_function
    result['train', jit_compile] = _first_and_median(
        lambda: step(iterator)['bpd'].numpy(), repeats)
  return result


def main(argv=None):
  parser = common.make_parser('xla', __doc__.split('\n')[0], batch=100,
                              repeats=3, archs=sampling.ARCHS)
  parser.add_argument('--train-batch', type=int, default=64)
  parser.add_argument('--couplings', nargs='+', default=['affine'],
                      choices=sampling.COUPLINGS)
  args, command = common.parse(parser, argv)
  out = args.out or (f'benchmarks/results/xla_{"_".join(args.arch)}'
                     f'_threads{args.threads or "all"}.md')
  table = common.ResultsTable(
      out, 'XLA against plain graphs on CPU', command,
      common.machine_description(args.threads),
      ['arch', 'conv', 'coupling', f'sample {args.batch} s (plain)',
       'XLA', 'XLA / plain', f'train step {args.train_batch} s (plain)',
       'XLA', 'XLA / plain', 'first call s: sample plain / XLA',
       'train plain / XLA'],
      notes=[f'Median of {args.repeats} calls after the first; the first '
             'call traces (and with XLA compiles) the graph.'])
  for arch in args.arch:
    for coupling in args.couplings:
      for conv in sampling.CONVS:
        r = measure(arch, conv, coupling, args.batch, args.train_batch,
                    args.repeats)
        row = [arch, conv, coupling]
        for kind in ('sample', 'train'):
          plain, xla = r[kind, False][1], r[kind, True][1]
          row += [f'{plain:.2f}', f'{xla:.2f}', f'{xla / plain:.2f}']
        row += [f'{r["sample", False][0]:.0f} / {r["sample", True][0]:.0f}',
                f'{r["train", False][0]:.0f} / {r["train", True][0]:.0f}']
        table.add(row)
  print(f'wrote {out}')


if __name__ == '__main__':
  main()
