"""Where and how a run was made: the machine, the thread count and the code.

A training run appends one record per invocation to `invocations.json` in
its folder, so a run resumed across machines, thread counts and code
versions says which steps each of them trained. When an invocation ends
(completed, interrupted or failed) its record gains the step it reached and
the CPU hours it spent: their sum counts the work a resume discarded (steps
after the last checkpoint), which the run's checkpointed clock does not. A
process killed outright leaves its record without them.
"""

import datetime
import os
import platform
import subprocess
import time

from training import files

INVOCATIONS = 'invocations.json'
_cpu_at_start = {}  # run folder: this process's CPU seconds when it started


def cpu():
  """The CPU's model name ('Intel(R) Xeon(R) Processor')."""
  try:
    with open('/proc/cpuinfo') as f:
      names = [l.split(':', 1)[1].strip() for l in f if 'model name' in l]
  except OSError:
    names = []
  return names[0] if names else (platform.processor() or platform.machine())


def machine(threads):
  """'CPU, N logical cores, threads=T; Python x, TensorFlow y'."""
  import tensorflow as tf
  return (f'{cpu()}, {os.cpu_count()} logical cores, '
          f'threads={threads or "all"}; Python {platform.python_version()}, '
          f'TensorFlow {tf.__version__}')


def code_version():
  """The git commit of the checkout this package runs from ('+changes' when
  its files differ from it), or 'installed' outside a checkout."""
  here = os.path.dirname(os.path.abspath(__file__))
  try:
    commit = subprocess.run(['git', '-C', here, 'rev-parse', '--short', 'HEAD'],
                            capture_output=True, text=True, timeout=10)
    changed = subprocess.run(
        ['git', '-C', here, 'status', '--porcelain', '--untracked-files=no',
         '--', '../tfp_invconv', '../training'],
        capture_output=True, text=True, timeout=10)
  except (OSError, subprocess.SubprocessError):
    return 'installed'
  if commit.returncode:
    return 'installed'
  return commit.stdout.strip() + ('+changes' if changed.stdout.strip() else '')


def record(out, from_step, threads, argv):
  """Appends this invocation (from which step, its command line `argv`,
  threads, machine and code) to `out`/invocations.json."""
  path = os.path.join(out, INVOCATIONS)
  _cpu_at_start[out] = time.process_time()
  invocations = files.read_json(path) or []
  invocations.append(dict(
      from_step=from_step,
      started=datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds'),
      command=' '.join(['python -m training'] + argv),
      threads=threads or 'all', machine=machine(threads),
      code=code_version()))
  files.write_json(path, invocations)


def finish(out, to_step):
  """Adds the step reached and this process's CPU hours to the last record."""
  path = os.path.join(out, INVOCATIONS)
  invocations = files.read_json(path)
  seconds = time.process_time() - _cpu_at_start.pop(out)
  invocations[-1].update(to_step=to_step, cpu_hours=round(seconds / 3600, 4))
  files.write_json(path, invocations)


def read(out):
  """The invocations recorded in `out`, oldest first ([] when none)."""
  return files.read_json(os.path.join(out, INVOCATIONS)) or []
