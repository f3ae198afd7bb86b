"""XLA (jit_compile=True) against plain TensorFlow graphs on CPU.

For each conv in {1x1 (Glow), emerging, cinc} x coupling: the median time to
sample a batch (the decode graph of `FlowModel`, with its exact inverses)
and of one training step (`fit` on one batch, Adamax), plain and compiled
with XLA, and the first call's time of each (tracing plus, with XLA,
compilation). XLA's compile time is the difference of the two first calls:
both trace the same graph. Same randomly initialised weights in both; CInC/emerging
kernels get off-centre taps of std 0.05 as in `benchmarks.sampling`. XLA is
the path GPUs and TPUs take; on a CPU it fuses the element-wise work between
the convolutions and matrix products.

Each (conv, coupling, sample or train, plain or XLA) cell runs in a fresh
process whose peak resident memory is reported; one that passes `--max-gb`
is stopped and reported as such rather than swapping the machine.

  python -m benchmarks.xla --threads 1 --arch cifar10
"""

from benchmarks import common
from training import provenance
from benchmarks import sampling

KINDS = ('sample', 'train')


def _model(arch, conv, coupling, jit_compile, memory_saving):
  import keras
  from tfp_invconv.model import FlowModel
  keras.utils.set_random_seed(0)
  model = FlowModel(sampling._flow(arch, conv, coupling, memory_saving),
                    num_levels=256, seed=0)
  model.compile(optimizer=keras.optimizers.Adamax(1e-3),
                jit_compile=jit_compile)
  return model


def measure_here(arch, conv, coupling, kind, jit_compile, batch,
                 train_batch, repeats, memory_saving=False):
  """In this process: [first call s, median s] of sampling `batch` images
  (`kind='sample'`) or of one training step on `train_batch` ('train')."""
  import numpy as np
  import tensorflow as tf
  model = _model(arch, conv, coupling, jit_compile, memory_saving)
  if kind == 'sample':
    z = tf.random.stateless_normal([batch, model.flow.latent_size], [0, 1])
    return common.first_and_median(
        lambda: model.decode(tf.identity(z)).numpy(), repeats)
  pixels = np.random.default_rng(0).integers(
      0, 256, (train_batch,) + sampling.IMAGE)
  iterator = iter(tf.data.Dataset.from_tensors(pixels).repeat())
  # The step `fit` runs (one `fit` call per step would retrace).
  model.make_train_function()
  step = model.train_function
  return common.first_and_median(lambda: step(iterator)['bpd'].numpy(),
                                 repeats)


def measure(arch, conv, coupling, kind, jit_compile, args):
  """`measure_here` in a fresh process: ((first s, median s) or None past
  `--max-gb`, peak resident GB)."""
  return common.call_in_process(
      args.threads, 'xla', 'measure_here', arch, conv, coupling, kind,
      jit_compile, args.batch, args.train_batch, args.repeats,
      args.memory_saving or False, max_gb=args.max_gb)


def _cells(times, peak_gb, max_gb):
  """Table cells of one kind: plain s, XLA s, ratio, first calls, compile
  s, peak GB."""
  def seconds(t, i):
    return f'{t[i]:.2f}' if t else '-'
  plain, xla = times
  ratio = f'{xla[1] / plain[1]:.2f}' if plain and xla else '-'
  first = f'{seconds(plain, 0)} / {seconds(xla, 0)}'
  compile_s = f'{xla[0] - plain[0]:.2f}' if plain and xla else '-'
  peaks = ' / '.join(f'{gb:.1f}' if t else f'> {max_gb:g} (stopped)'
                     for t, gb in zip(times, peak_gb))
  return [seconds(plain, 1), seconds(xla, 1), ratio, first, compile_s, peaks]


def main(argv=None):
  parser = common.make_parser('xla', __doc__.split('\n')[0], batch=100,
                              repeats=3, archs=sampling.ARCHS)
  parser.add_argument('--train-batch', type=int, default=64)
  parser.add_argument('--couplings', nargs='+', default=['affine'],
                      choices=sampling.COUPLINGS)
  parser.add_argument('--convs', nargs='+', default=list(sampling.CONVS),
                      choices=sampling.CONVS)
  parser.add_argument('--kinds', nargs='+', default=list(KINDS),
                      choices=KINDS)
  parser.add_argument('--memory-saving', choices=['recompute', 'inverse'],
                      default=None, help='build the flows with this '
                                         'memory saving (CInCFlow)')
  parser.add_argument('--max-gb', type=float, default=16.,
                      help='stop a configuration whose process passes this '
                           'much resident memory')
  args, command = common.parse(parser, argv)
  saving = f'_{args.memory_saving}' if args.memory_saving else ''
  out = args.out or (f'benchmarks/results/xla_{"_".join(args.arch)}{saving}'
                     f'_threads{args.threads or "all"}.md')
  header = ['arch', 'conv', 'coupling']
  for kind in args.kinds:
    kind = {'sample': f'sample {args.batch}',
            'train': f'train step {args.train_batch}'}[kind]
    header += [f'{kind} s (plain)', 'XLA', 'XLA / plain',
               'first call s plain / XLA', 'XLA compile s',
               'peak GB plain / XLA']
  table = common.ResultsTable(
      out, 'XLA against plain graphs on CPU', command,
      provenance.machine(args.threads), header,
      notes=[f'Median of {args.repeats} calls after the first; the first '
             'call traces (and with XLA compiles) the graph. Each cell runs '
             'in a fresh process; peak GB is its peak resident memory '
             '(TensorFlow, the model, tracing and compilation included).'])
  for arch in args.arch:
    for coupling in args.couplings:
      for conv in args.convs:
        row = [arch, conv, coupling]
        for kind in args.kinds:
          results = [measure(arch, conv, coupling, kind, jit, args)
                     for jit in (False, True)]
          row += _cells([r[0] for r in results], [r[1] for r in results],
                        args.max_gb)
        table.add(row)
  print(f'wrote {out}')


if __name__ == '__main__':
  main()
