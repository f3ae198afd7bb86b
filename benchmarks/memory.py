"""Peak memory and time of one training step, with and without memory saving.

For each depth D: a CInCFlow at the CIFAR-10 architecture (3 levels, width
512, 32 x 32 x 3, CInC convolutions, affine couplings) takes training steps
(`fit`'s step, Adamax, batch 64), plain and with each `memory_saving`
mode: 'recompute' (each flow step's activations recomputed from its kept
input) and 'inverse' (each step's input rebuilt from the level's output by
the exact inverses, then its activations recomputed). Each configuration
runs in a fresh process, which initialises ActNorm from the batch (as
`fit` does) and takes a first step (tracing). Two peaks:
- resident: the process's peak resident memory (VmHWM) over everything,
  TensorFlow's runtime, tracing and the weights included: what a user's
  machine must hold;
- allocator: after the first step TensorFlow's CPU allocator statistics are
  reset, and a step's peak is the allocator's peak above the tensors held
  before it (weights, optimizer state): the activations and gradients.
Step time: median of `--repeats` steps.

  python -m benchmarks.memory --threads 1 --depths 8 16 32
"""

from benchmarks import common
from training import provenance

MODES = ('recompute', 'inverse')
ARCH = dict(levels=3, hidden_width=512, conv='cinc', coupling='affine')
IMAGE = (32, 32, 3)


def measure_here(depth, memory_saving, batch, repeats):
  """In this process: (peak MiB above the memory held before a step, median
  step seconds)."""
  import keras
  import numpy as np
  import tensorflow as tf
  import tfp_invconv as ti
  from tfp_invconv.model import FlowModel
  keras.utils.set_random_seed(0)
  model = FlowModel(ti.CInCFlow(IMAGE, depth=depth,
                                memory_saving=memory_saving, **ARCH),
                    num_levels=256, seed=0)
  model.compile(optimizer=keras.optimizers.Adamax(1e-3))
  pixels = np.random.default_rng(0).integers(0, 256, (batch,) + IMAGE)
  model.initialize(pixels)
  iterator = iter(tf.data.Dataset.from_tensors(pixels).repeat())
  model.make_train_function()
  step = lambda: model.train_function(iterator)['bpd'].numpy()
  step()
  tf.config.experimental.reset_memory_stats('CPU:0')
  held = tf.config.experimental.get_memory_info('CPU:0')['current']
  seconds = common.median_seconds(step, repeats, warmup=0)
  peak = tf.config.experimental.get_memory_info('CPU:0')['peak']
  return (peak - held) / 2 ** 20, seconds


def measure(depth, memory_saving, args):
  """Runs `measure_here` in a fresh process: (resident peak MiB, allocator
  peak MiB, median step seconds)."""
  (allocator_mib, seconds), resident_gb = common.call_in_process(
      args.threads, 'memory', 'measure_here', depth, memory_saving,
      args.batch, args.repeats)
  return resident_gb * 1024, allocator_mib, seconds


def main(argv=None):
  parser = common.make_parser('memory', __doc__.split('\n')[0], batch=64,
                              repeats=2,
                              out='benchmarks/results/memory.md')
  parser.add_argument('--depths', type=int, nargs='+', default=[8, 16, 32])
  parser.add_argument('--modes', nargs='+', default=list(MODES),
                      choices=MODES, help='memory-saving modes to compare '
                                          'with the plain step')
  args, command = common.parse(parser, argv)
  configs = ['plain'] + list(args.modes)
  header = ['D']
  for peak in ('resident', 'allocator'):
    header += [f'{peak} peak MiB ({c})' for c in configs]
    header += [f'{peak}: plain / {mode}' for mode in args.modes]
  header += [f'step s ({c})' for c in configs]
  header += [f'{mode} / plain time' for mode in args.modes]
  table = common.ResultsTable(
      args.out, 'Training-step memory with and without memory saving',
      command, provenance.machine(args.threads), header,
      notes=['Resident peak: the process\'s VmHWM (TensorFlow\'s runtime, '
             'tracing, weights and optimizer state included). Allocator '
             'peak: TensorFlow\'s CPU allocator peak during the steps after '
             'the first, above the tensors held before them (weights, '
             'optimizer state). ActNorm initialised from the batch; fresh '
             'process per cell.'])
  for depth in args.depths:
    cells = [measure(depth, False, args)] + [
        measure(depth, mode, args) for mode in args.modes]
    row = [depth]
    for peak in (0, 1):
      row += [f'{cell[peak]:.0f}' for cell in cells]
      row += [f'{cells[0][peak] / cell[peak]:.2f}' for cell in cells[1:]]
    row += [f'{cell[2]:.2f}' for cell in cells]
    row += [f'{cell[2] / cells[0][2]:.2f}' for cell in cells[1:]]
    table.add(row)
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
