"""Multi-worker scaling: two local workers against one, through the CLI.

Trains the same model with the training CLI as one process (one thread,
`--strategy default`, batch B) and as two `--strategy multiworker`
processes on loopback ports (one thread each, global batch 2B, so each
worker's batch stays B), and reports steps/s and images/s over the steps
after a warm-up, timed by the arrival of each run's progress lines within
one epoch (no held-out evaluation in the window), and the efficiency
(images/s of two workers over twice that of one). Run it on an idle
machine: the cores are the resource measured.

  python -m benchmarks.distributed --dataset ../shared/data/mnist.npz
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

from benchmarks import common
from training import provenance

_PROGRESS = re.compile(r'^step (\d+)/\d+ ')


def _command(args, out, batch, strategy):
  return [sys.executable, '-m', 'training', 'train', '--preset', args.preset,
          '--dataset', args.dataset, '--steps', str(args.steps),
          '--batch-size', str(batch), '--threads', '1', '--log-every',
          str(args.warmup), '--strategy', strategy, '--out', out]


def _progress_times(stream, times):
  """Appends (step, arrival time) for every progress line of `stream`."""
  for line in stream:
    match = _PROGRESS.match(line)
    if match:
      times.append((int(match.group(1)), time.perf_counter()))


def _steps_per_second(commands, envs):
  """Runs the processes together; steps/s of the first between its first
  progress line (after the warm-up, which includes tracing) and its last."""
  processes = [subprocess.Popen(c, env=e, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
               for c, e in zip(commands, envs)]
  times = []
  reader = threading.Thread(target=_progress_times,
                            args=(processes[0].stdout, times))
  reader.start()
  for p in processes[1:]:
    p.communicate()
  processes[0].wait()
  reader.join()
  if any(p.returncode for p in processes):
    raise RuntimeError('a training process failed')
  (first, start), (last, end) = times[0], times[-1]
  return (last - first) / (end - start)


def main(argv=None):
  parser = common.make_parser('distributed', __doc__.split('\n')[0],
                              batch=64, out='benchmarks/results/distributed.md')
  parser.add_argument('--preset', default='demo')
  parser.add_argument('--dataset', required=True,
                      help='images with more than 2 x batch x steps of them '
                           '(e.g. mnist.npz), so no epoch ends in the window')
  parser.add_argument('--steps', type=int, default=300)
  parser.add_argument('--warmup', type=int, default=50)
  args, command = common.parse(parser, argv)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  env.pop('TF_CONFIG', None)
  with tempfile.TemporaryDirectory() as scratch:
    one = _steps_per_second([_command(args, os.path.join(scratch, 'one'),
                                      args.batch, 'default')], [env])
    from training import distribute
    hosts = [f'127.0.0.1:{p}' for p in distribute.free_loopback_ports(2)]
    envs = [dict(env, TF_CONFIG=json.dumps(
        {'cluster': {'worker': hosts}, 'task': {'type': 'worker',
                                                'index': i}}))
            for i in range(2)]
    two = _steps_per_second([_command(args, os.path.join(scratch, 'two'),
                                      2 * args.batch, 'multiworker')] * 2,
                            envs)
  rows = [['1 worker, 1 thread', args.batch, f'{one:.2f}',
           f'{one * args.batch:.0f}', '1.00'],
          ['2 workers, 1 thread each', 2 * args.batch, f'{two:.2f}',
           f'{two * 2 * args.batch:.0f}',
           f'{two * 2 * args.batch / (one * args.batch):.2f}']]
  efficiency = two * 2 * args.batch / (2 * one * args.batch)
  common.write_markdown(
      args.out, 'Multi-worker scaling on one machine', command,
      provenance.machine(1),
      ['setup', 'global batch', 'steps/s', 'images/s', 'images/s vs 1'],
      rows, notes=[
          f'Efficiency (images/s of two workers over twice one worker\'s): '
          f'{efficiency:.2f}. Steps/s over steps {args.warmup} to '
          f'{args.steps} of `python -m training train --preset {args.preset} '
          '--dataset DATA`, timed by its progress lines; the two workers '
          'all-reduce their gradients over loopback gRPC every step.'])
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
