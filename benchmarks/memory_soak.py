"""Resident memory over a long training run: does it creep up?

Trains the MNIST preset (`mnist_conf_wide`, the long runs' model) for 3,000
steps with the command users run, `python -m training train`, in a child
process, and reads the child's resident memory (VmRSS, /proc) at each of
its progress lines (every 50 steps). A held-out evaluation and a checkpoint
end every epoch (937 steps), so the warm-up is the first epoch: growth is
measured from the resident memory after the first epoch's evaluation to
the largest later reading. The bar: at most 5%. Written to a results file
and a plot of resident memory against steps.

With `--peers`, instead: the same soak for TFP's `tfb.Glow` beside this
package's flows, each trained in the peer benchmark's plain loop (a
`tf.function` step of -mean log_prob and Adamax, benchmarks/peers.py, MNIST
size: 2 levels of D = 4 steps, width 128), where the loop has no epochs:
growth is measured after the first `PEERS_WARMUP` steps. TFP issue #1177
reports `tfb.Glow` training memory growing steadily.

An interrupted soak starts again (it measures one process's life; a
resumed run would be a new process).

  python -m benchmarks.memory_soak --data ../shared/data/mnist.npz --threads 1
  python -m benchmarks.memory_soak --data ../shared/data/mnist.npz --threads 1 --peers --out benchmarks/results/memory_soak_peers.md
"""

import os
import re
import subprocess
import sys
import tempfile

from benchmarks import common
from training import provenance

PRESET = 'mnist_conf_wide'
STEPS_PER_EPOCH = 937  # 60,000 images at batch 64, the last batch dropped
PEERS_WARMUP = 500
BAR = 0.05
_PROGRESS = re.compile(r'^step (\d+)/\d+ ')


def cli_command(data, steps, threads, out_dir):
  return [sys.executable, '-m', 'training', 'train', '--preset', PRESET,
          '--dataset', data, '--steps', str(steps), '--out', out_dir,
          '--threads', str(threads)]


def peers_command(model, data, steps, threads):
  return [sys.executable, '-c',
          f'from benchmarks import common, peers; '
          f'common.set_threads({threads}); '
          f'peers.mnist_bits_here({model!r}, {data!r}, {steps}, '
          'progress_every=50)']


def soak(command):
  """[(step, resident MiB)] at every progress line ('step N/...') that the
  process `command` prints."""
  readings = []
  with subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                        stderr=subprocess.DEVNULL) as child:
    for line in child.stdout:
      match = _PROGRESS.match(line)
      if match:
        mib = common.memory_gb(child.pid, 'VmRSS') * 1024
        readings.append((int(match.group(1)), mib))
        print(f'step {readings[-1][0]}: {mib:,.0f} MiB', flush=True)
  if child.returncode:
    raise subprocess.CalledProcessError(child.returncode, command)
  return readings


def growth(readings, warmup_steps):
  """(resident MiB at the end of the warm-up, largest later reading, its
  relative growth)."""
  after = [mib for step, mib in readings if step >= warmup_steps]
  if len(after) < 2:
    raise ValueError(f'the run ended before step {warmup_steps}: nothing '
                     'to measure after the warm-up.')
  return after[0], max(after), max(after) / after[0] - 1.


def plot(curves, warmup_steps, path, title):
  """Resident memory against steps, one line per {label: readings}, with
  each curve's bar (+BAR over its reading at the end of the warm-up)."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(7, 4))
  for i, (label, readings) in enumerate(curves.items()):
    steps, mib = zip(*readings)
    ax.plot(steps, mib, marker='.', lw=1, color=f'C{i}', label=label)
    base = next(m for s, m in readings if s >= warmup_steps)
    ax.axhline(base * (1 + BAR), color=f'C{i}', ls='--', lw=1,
               label=f'{label}: +{BAR:.0%} over the warm-up')
  ax.axvline(warmup_steps, color='grey', ls=':', label='end of warm-up')
  ax.set(xlabel='training step', ylabel='resident memory (MiB)', title=title)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def main(argv=None):
  parser = common.make_parser('memory_soak', __doc__.split('\n')[0],
                              batch=64, out='benchmarks/results/memory_soak.md')
  parser.add_argument('--data', required=True, help='mnist.npz')
  parser.add_argument('--steps', type=int, default=3000)
  parser.add_argument('--peers', action='store_true',
                      help="tfb.Glow and this package's flows in the peer "
                      "benchmark's training loop")
  args, command = common.parse(parser, argv)
  threads = args.threads or os.cpu_count()
  if args.peers:
    return peers_main(args, command, threads)
  with tempfile.TemporaryDirectory() as out_dir:
    readings = soak(cli_command(args.data, args.steps, threads, out_dir))
  base, peak, grown = growth(readings, STEPS_PER_EPOCH)
  figure = os.path.splitext(args.out)[0] + '.png'
  plot({PRESET: readings}, STEPS_PER_EPOCH, figure,
       f'{PRESET}: resident memory while training')
  verdict = 'met' if grown <= BAR else 'NOT met'
  common.write_markdown(
      args.out, 'Resident memory over a long training run', command,
      provenance.machine(threads), ['step', 'resident MiB'],
      [[step, f'{mib:,.0f}'] for step, mib in readings],
      notes=[f'`python -m training train --preset {PRESET}` for '
             f'{args.steps:,} steps (batch 64), resident memory of the '
             'training process at each progress line. After the warm-up '
             f'(the first epoch, {STEPS_PER_EPOCH} steps, with its held-out '
             f'evaluation and checkpoint): {base:,.0f} MiB; largest later '
             f'reading {peak:,.0f} MiB, growth {grown:+.1%}. Bar <= '
             f'{BAR:.0%}: {verdict}. Plot: '
             f'[{os.path.basename(figure)}]({os.path.basename(figure)}).'])
  print(f'wrote {args.out} and {figure}')


def peers_main(args, command, threads):
  from benchmarks import peers
  curves, notes = {}, []
  figure = os.path.splitext(args.out)[0] + '.png'
  for model in peers.MODELS:
    curves[model] = soak(peers_command(model, args.data, args.steps,
                                       threads))
    base, peak, grown = growth(curves[model], PEERS_WARMUP)
    notes.append(f'{model}: {base:,.0f} MiB at step {PEERS_WARMUP}, largest '
                 f'later reading {peak:,.0f} MiB, growth {grown:+.1%}.')
    steps = sorted({s for readings in curves.values() for s, _ in readings})
    rows = [[s] + [next((f'{m:,.0f}' for t, m in curves[name] if t == s), '')
                   for name in curves] for s in steps]
    plot(curves, PEERS_WARMUP, figure,
         "Resident memory in the peer benchmark's training loop")
    common.write_markdown(
        args.out, "Resident memory over a long training run: against TFP's "
        'tfb.Glow', command, provenance.machine(threads),
        ['step'] + [f'{name} resident MiB' for name in curves], rows,
        notes=[f"Each flow at MNIST size ({peers.MNIST['levels']} levels of "
               f"D = {peers.MNIST['depth']}, width {peers.MNIST['width']}) "
               f'trained for '
               f'{args.steps:,} steps (batch 64, Adamax 1e-3) in '
               '`benchmarks.peers.mnist_bits_here`, in its own process; '
               'resident memory every 50 steps. Growth after the first '
               f'{PEERS_WARMUP} steps (the loop has no epochs):'] + notes
        + [f'Plot: [{os.path.basename(figure)}]'
           f'({os.path.basename(figure)}).'])
  print(f'wrote {args.out} and {figure}')


if __name__ == '__main__':
  main()
