"""Seconds from Ctrl-C (SIGINT) to the end of a training process.

Starts `python -m training train` on MNIST with a preset, waits for its
progress line at `--at` steps, sends SIGINT and times the moment the
"interrupted at step" message appears (the state is saved by then) and the
moment the process has exited. `--trials` runs, each from a fresh folder;
the goal is an exit within 5 s on the MNIST presets.

  python -m benchmarks.interrupt --data ../shared/data/mnist.npz
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks import common
from training import provenance

OUT = 'benchmarks/results/interrupt.md'


def interrupt_once(preset, data, at, threads):
  """(seconds to the saved-state message, seconds to exit, exit status)."""
  out = tempfile.mkdtemp(prefix='interrupt-')
  command = [sys.executable, '-m', 'training', 'train', '--preset', preset,
             '--dataset', data, '--steps', str(at * 100), '--log-every',
             str(at), '--threads', str(threads), '--out', out]
  run = subprocess.Popen(command, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  try:
    for line in run.stdout:
      if line.startswith(f'step {at}/'):
        break
    else:
      raise RuntimeError(f'{preset}: the run ended before step {at}')
    start = time.perf_counter()
    run.send_signal(signal.SIGINT)
    saved = None
    for line in run.stdout:
      if 'interrupted at step' in line and saved is None:
        saved = time.perf_counter() - start
    status = run.wait()
    return saved, time.perf_counter() - start, status
  finally:
    run.kill()
    shutil.rmtree(out, ignore_errors=True)


def main(argv=None):
  parser = argparse.ArgumentParser(prog='interrupt', description=__doc__)
  parser.add_argument('--data', required=True, help='mnist.npz')
  parser.add_argument('--presets', nargs='+',
                      default=['demo', 'mnist_conf_wide'])
  parser.add_argument('--at', type=int, default=30,
                      help='interrupt after this many steps')
  parser.add_argument('--trials', type=int, default=5)
  parser.add_argument('--threads', type=int, default=1)
  parser.add_argument('--out', default=OUT)
  args = parser.parse_args(argv)
  command = common.command_line(parser, args)
  table = common.ResultsTable(
      args.out, 'Seconds from SIGINT to exit', command,
      provenance.machine(args.threads),
      ['preset', 'state saved (median s)', 'exited (median s)',
       'exited (max s)', 'exit status'],
      notes=[f'{args.trials} trials per preset, SIGINT after step {args.at}. '
             'Goal: exited within 5 s. Load average when it started: '
             f'{os.getloadavg()[0]:.1f} (other processes share the cores).'])
  for preset in args.presets:
    saved, exited, status = zip(*(
        interrupt_once(preset, args.data, args.at, args.threads)
        for _ in range(args.trials)))
    table.add([preset, f'{statistics.median(saved):.1f}',
               f'{statistics.median(exited):.1f}', f'{max(exited):.1f}',
               ' '.join(sorted(set(map(str, status))))])


if __name__ == '__main__':
  main()
