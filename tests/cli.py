"""Running the command-line tools from tests: in this process where only
what they print and write matters, in a fresh process where the process is
the subject (a resume after a kill, signals, a user's one-line errors)."""

import contextlib
import importlib
import io
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')


def _main(module):
  return importlib.import_module(f'{module}.__main__').main


def run(module, *argv):
  """`python -m module argv...` in this process; returns what it printed."""
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    _main(module)(list(argv))
  return printed.getvalue()


def fail(module, *argv):
  """Runs a command that must fail, in this process (that its error is the
  one line on stderr is `test_bad_inputs`' subject); returns the error."""
  with pytest.raises(SystemExit) as failure:
    run(module, *argv)
  assert isinstance(failure.value.code, str), failure.value.code
  return failure.value.code.strip().splitlines()[-1]


def command(module, *argv):
  return [sys.executable, '-m', module, *argv]


def run_process(module, *argv):
  """`python -m module argv...` in a fresh process; returns its stdout."""
  result = subprocess.run(command(module, *argv), cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
  return result.stdout
