"""Timing and reporting helpers shared by the benchmarks."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from training import files


def make_parser(name, description, batch, repeats=None, archs=None, out=None):
  """The options every benchmark `benchmarks.<name>` shares (--threads,
  --batch, --out; --repeats and --arch when `repeats` / `archs` are given)."""
  parser = argparse.ArgumentParser(prog=name, description=description)
  parser.add_argument('--threads', type=int, default=1,
                      help='TensorFlow threads (0 = all cores)')
  if archs:
    parser.add_argument('--arch', nargs='+', default=['cifar10'],
                        choices=sorted(archs))
  parser.add_argument('--batch', type=int, default=batch)
  if repeats:
    parser.add_argument('--repeats', type=int, default=repeats)
  parser.add_argument('--out', default=out)
  return parser


def parse(parser, argv):
  """Parses and fixes the thread count; returns (args, command line)."""
  args = parser.parse_args(argv)
  set_threads(args.threads)
  return args, command_line(parser, args)


def command_line(parser, args):
  """The command that reruns `benchmarks.<parser.prog>` with `args`: a flag
  appears when it is set, and --out when it is not the default."""
  def option(key, value):
    flag = f'--{key.replace("_", "-")}'
    if isinstance(value, bool):
      return flag
    return f'{flag} {" ".join(map(str, value)) if isinstance(value, list) else value}'
  return ' '.join([f'python -m benchmarks.{parser.prog}'] + [
      option(k, v) for k, v in vars(args).items()
      if k != 'suite' and v is not None and v is not False
      and (k != 'out' or v != parser.get_default('out'))])


def add_model_source(parser):
  """--pretrained NAME or --run FOLDER, one of them required."""
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument('--pretrained', help='a pretrained model name')
  source.add_argument('--run', help='a training run folder')


def load_model(args):
  """The FlowModel that --pretrained or --run names."""
  from training import artifacts, pretrained
  model, _ = (pretrained.load(args.pretrained) if args.pretrained
              else artifacts.load_model(args.run))
  return model


def set_threads(threads):
  """Fixes TensorFlow's thread pools (call before any op runs)."""
  import tensorflow as tf
  if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def first_and_median(fn, repeats):
  """(seconds of the first call, median seconds of `repeats` more)."""
  start = time.perf_counter()
  fn()
  first = time.perf_counter() - start
  return first, median_seconds(fn, repeats, warmup=0)


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


def write_markdown(path, title, command, machine, header, rows, notes=()):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  lines = [f'# {title}', '', f'Command: `{command}`', '', f'Machine: {machine}',
           '', '| ' + ' | '.join(header) + ' |',
           '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
  if notes:
    lines += [''] + list(notes)
  with files.atomic_file(path) as f:
    f.write('\n'.join(lines) + '\n')


class ResultsTable:
  """A markdown results table that prints each row and rewrites its file
  after every row, so an interrupted benchmark keeps what it measured."""

  def __init__(self, path, title, command, machine, header, notes=()):
    self.path, self.rows = path, []
    self._page = dict(title=title, command=command, machine=machine,
                      header=header, notes=list(notes))

  def add(self, row):
    self.rows.append([str(c) for c in row])
    print(' | '.join(self.rows[-1]), flush=True)
    write_markdown(self.path, rows=self.rows, **self._page)

  def add_note(self, note):
    self._page['notes'].append(note)
    print(note, flush=True)
    write_markdown(self.path, rows=self.rows, **self._page)


def memory_gb(pid, field):
  """A /proc/<pid>/status memory field ('VmRSS', 'VmHWM') in GB; 0 if gone."""
  try:
    with open(f'/proc/{pid}/status') as f:
      for line in f:
        if line.startswith(field + ':'):
          return int(line.split()[1]) / 2 ** 20
  except OSError:
    pass
  return 0.


def call_in_process(threads, module, function, *args, max_gb=None):
  """`benchmarks.<module>.<function>(*args)` in a fresh Python process with
  `threads` threads (arguments by their repr, the result through JSON):
  `run_python`'s (result, peak resident GB)."""
  call = f'{module}.{function}({", ".join(map(repr, args))})'
  return run_python(f'import json; from benchmarks import common, {module}; '
                    f'common.set_threads({threads}); '
                    f'print(json.dumps({call}))', max_gb)


def run_python(code, max_gb=None):
  """Runs `code` in a fresh Python process that prints one JSON value last.

  Returns (that value, or None if the process passed `max_gb` of resident
  memory and was killed; its peak resident GB). Without a cap, a process
  that outgrows the RAM swaps the machine instead of failing. The peak is
  the process's own high-water mark, sampled every 0.2 s (the kernel's
  ru_maxrss would count the parent's memory at the fork).
  """
  with tempfile.TemporaryFile('w+') as out:
    process = subprocess.Popen([sys.executable, '-c', code], stdout=out)
    killed, peak_gb = False, 0.
    while process.poll() is None:
      peak_gb = max(peak_gb, memory_gb(process.pid, 'VmHWM'))
      if max_gb and not killed and memory_gb(process.pid, 'VmRSS') > max_gb:
        process.kill()
        killed = True
      time.sleep(0.2)
    if killed:
      return None, peak_gb
    if process.returncode:
      raise subprocess.CalledProcessError(process.returncode, code)
    out.seek(0)
    return json.loads(out.read().strip().splitlines()[-1]), peak_gb
