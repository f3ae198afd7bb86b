"""Timing and reporting helpers shared by the benchmarks."""

import os
import platform
import statistics
import time


def set_threads(threads):
  """Fixes TensorFlow's thread pools (call before any op runs)."""
  import tensorflow as tf
  if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def median_seconds(fn, repeats, warmup=2):
  """Median wall time of fn() over `repeats` runs after `warmup` runs."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def machine_description(threads):
  import tensorflow as tf
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      names = [l.split(':', 1)[1].strip() for l in f if 'model name' in l]
    cpu = names[0] if names else cpu
  except OSError:
    pass
  return (f'{cpu}, {os.cpu_count()} logical cores, threads={threads or "all"}; '
          f'Python {platform.python_version()}, TensorFlow {tf.__version__}')


def write_markdown(path, title, command, machine, header, rows, notes=()):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  lines = [f'# {title}', '', f'Command: `{command}`', '', f'Machine: {machine}',
           '', '| ' + ' | '.join(header) + ' |',
           '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
  if notes:
    lines += [''] + list(notes)
  with open(path, 'w') as f:
    f.write('\n'.join(lines) + '\n')
