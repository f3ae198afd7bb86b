"""The training CLI end to end: train, resume (after a kill too), evaluate,
sample, export; Ctrl-C and SIGTERM save and say how to resume."""

import json
import os
import re
import signal
import subprocess
import time

import pytest
import tensorflow as tf

from tests import cli
from tfp_invconv import precision

TINY = ['--preset', 'demo', '--dataset', 'digits', '--depth', '1',
        '--hidden-width', '8', '--batch-size', '250']  # 6 steps per epoch


@pytest.mark.slow
def test_train_resume_and_export(tmp_path):
  out = str(tmp_path / 'run')
  tiny = TINY + ['--out', out]
  cli.run('training', 'train', '--steps', '12', *tiny)
  history = open(os.path.join(out, 'history.csv')).read().splitlines()
  assert len(history) == 1 + 2  # header + two 6-step epochs
  for name in ('samples.png', 'bpd.png', 'model.weights.h5', 'config.json'):
    assert os.path.exists(os.path.join(out, name)), name

  # A second call with more steps resumes after the two finished epochs,
  # here in mixed precision: the float32 checkpoint moves across and the
  # run records the switch.
  cli.run('training', 'train', '--steps', '18', *tiny, '--mixed-precision')
  history = open(os.path.join(out, 'history.csv')).read().splitlines()
  epochs = [int(line.split(',')[0]) for line in history[1:]]
  assert epochs == [0, 1, 2], history
  config = json.load(open(os.path.join(out, 'config.json')))
  assert config['segments'] == [dict(from_step=12,
                                     mixed_precision=[False, True])]

  assert 'test bits/dim:' in cli.run('training', 'evaluate', '--run', out)
  cli.run('training', 'sample', '--run', out, '--num', '4')
  assert os.path.exists(os.path.join(out, 'samples_by_temperature.png'))

  printed = cli.run('export', '--checkpoint', out, '--out',
                    str(tmp_path / 'sm'), '--mixed-precision')
  native = precision.native_bfloat16()[0]  # else a warning, and float32
  assert f'(conditioners in {"bfloat16" if native else "float32"})' in printed
  assert '"log_prob": "ok"' in printed
  assert 'saved_model_cli run bits_per_dim: ok' in printed
  assert json.load(open(os.path.join(out, 'config.json')))['num_levels'] == 17

  assert cli.fail('training', 'interpolate', '--run', out, '--pairs', '0',
                  '99999') == (
      "python -m training interpolate: error: --pairs: indices must lie in "
      "[0, 297), the test images of the run's dataset")
  assert cli.fail('training', 'manipulate', '--run', out, '--attribute',
                  'Smiling') == (
      "python -m training manipulate: error: --attribute 'Smiling': digits "
      "has class labels; give a class index such as 3")

  run_files = sorted(os.listdir(out))
  refused = cli.fail('export', '--checkpoint', out, '--out', out,
                     '--overwrite')
  assert 'is not empty and is not a SavedModel' in refused
  assert sorted(os.listdir(out)) == run_files  # nothing deleted
  assert 'already holds a SavedModel; pass --overwrite' in cli.fail(
      'export', '--checkpoint', out, '--out', str(tmp_path / 'sm'),
      '--no-verify')
  cli.run('export', '--checkpoint', out, '--out', str(tmp_path / 'sm'),
          '--overwrite', '--no-verify')

  with open(os.path.join(out, 'config.json')) as f:
    config_text = f.read()
  other = cli.fail('training', 'train', '--steps', '24', *TINY[:-4],
                   '--hidden-width', '16', '--batch-size', '250', '--out', out)
  assert "holds a run of another architecture (hidden_width=8 -> 16)" in other
  with open(os.path.join(out, 'config.json')) as f:
    assert f.read() == config_text
  assert 'test bits/dim:' in cli.run('training', 'evaluate', '--run', out)


def _latest_step(directory):
  latest = tf.train.latest_checkpoint(directory)
  return int(re.search(r'ckpt-(\d+)$', latest).group(1)) if latest else 0


@pytest.mark.slow
def test_killed_mid_epoch_run_resumes_without_losing_or_repeating_steps(
    tmp_path):
  out = str(tmp_path / 'run')
  command = cli.command('training', 'train', '--steps', '48',
                        '--checkpoint-every', '2', *TINY, '--out', out)
  checkpoints = os.path.join(out, 'checkpoints')
  run = subprocess.Popen(command, cwd=cli.ROOT, env=cli.ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  deadline = time.time() + 600
  while _latest_step(checkpoints) % 6 == 0 and run.poll() is None:
    assert time.time() < deadline, 'no mid-epoch checkpoint appeared'
    time.sleep(0.2)
  run.send_signal(signal.SIGKILL)
  run.wait()
  killed_at = _latest_step(checkpoints)
  assert 0 < killed_at < 48 and killed_at % 6, killed_at

  printed = cli.run('training', 'train', '--steps', '48',
                    '--checkpoint-every', '2', *TINY, '--out', out)
  assert f'resuming from step {killed_at}' in printed
  assert 'trained 48 steps' in printed
  assert _latest_step(checkpoints) == 48
  epochs = [int(line.split(',')[0]) for line in
            open(os.path.join(out, 'history.csv')).read().splitlines()[1:]]
  # Epochs finished before the kill, then the rest: none twice, none lost.
  assert epochs == list(range(8)), epochs


def _ignore_sigint():
  signal.signal(signal.SIGINT, signal.SIG_IGN)


# SIGINT (Ctrl-C) to a job a shell started with `&`, which inherits SIGINT
# ignored unless the program handles it (the harder case of Ctrl-C); SIGTERM
# (kill, a scheduler's preemption).
STOPS = {'sigint-in-background': (signal.SIGINT, _ignore_sigint),
         'sigterm': (signal.SIGTERM, None)}


@pytest.mark.slow
@pytest.mark.parametrize('stop', sorted(STOPS))
def test_interrupt_saves_and_says_how_to_resume(tmp_path, stop):
  out = str(tmp_path / 'run')
  command = cli.command('training', 'train', '--steps', '600',
                        '--log-every', '1', *TINY, '--out', out)
  sent, preexec = STOPS[stop]
  run = subprocess.Popen(command, cwd=cli.ROOT, env=cli.ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=preexec)
  for line in run.stdout:  # wait until training is under way
    if line.startswith('step 3/'):
      break
  run.send_signal(sent)
  _, err = run.communicate(timeout=300)
  assert run.returncode == 130
  assert 'Traceback' not in err
  message = err.strip().splitlines()[-1]
  step = int(re.match(r'interrupted at step (\d+); rerun the same command to '
                      r'resume$', message).group(1))
  assert step >= 3 and _latest_step(os.path.join(out, 'checkpoints')) == step
