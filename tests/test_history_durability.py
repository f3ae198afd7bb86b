"""A run killed at any point of an epoch's end keeps history and checkpoint
in agreement: each epoch's row appears exactly once, with its step."""

import json

import numpy as np
import pytest

from training import __main__ as cli
from training import callbacks, provenance

TINY = ['train', '--preset', 'demo', '--dataset', 'digits', '--depth', '1',
        '--hidden-width', '8', '--batch-size', '250']  # 6 steps per epoch


class _Killed(BaseException):
  """Stands for SIGKILL: nothing after it runs, no handler catches it."""


def _kill_at_step(monkeypatch, cls, method, step, error=_Killed):
  original = getattr(cls, method)

  def killing(self, *args, **kwargs):
    if int(self.model.optimizer.iterations.numpy()) == step:
      raise error
    return original(self, *args, **kwargs)
  monkeypatch.setattr(cls, method, killing)


@pytest.mark.slow
@pytest.mark.parametrize('cls,method', [
    # between the history row and the checkpoint
    (callbacks.TrainingState, 'save'),
    # after the checkpoint, before the other epoch-end callbacks
    (callbacks.BestWeights, 'on_epoch_end')])
def test_history_survives_a_kill_at_epoch_end(tmp_path, monkeypatch, cls,
                                              method):
  out = str(tmp_path / 'run')
  _kill_at_step(monkeypatch, cls, method, 12)
  with pytest.raises(_Killed):
    cli.main(TINY + ['--steps', '18', '--out', out])
  monkeypatch.undo()
  cli.main(TINY + ['--steps', '18', '--out', out])
  history = callbacks.read_history(str(tmp_path / 'run' / 'history.csv'))
  assert history['epoch'] == [0., 1., 2.]
  assert history['step'] == [6., 12., 18.]


@pytest.mark.slow
def test_compute_hours_add_up_across_a_resume(tmp_path, monkeypatch):
  out = str(tmp_path / 'run')
  cli.main(TINY + ['--steps', '12', '--out', out])
  first = callbacks.read_history(str(tmp_path / 'run' / 'history.csv'))
  # A resumed process starts its clocks from zero again.
  monkeypatch.setattr(callbacks.time, 'process_time', lambda: 0.)
  monkeypatch.setattr(callbacks.time, 'perf_counter', lambda: 0.)
  cli.main(TINY + ['--steps', '18', '--out', out])
  history = callbacks.read_history(str(tmp_path / 'run' / 'history.csv'))
  for column in ('cpu_hours', 'wall_hours'):
    assert history[column][:2] == first[column]
    assert first[column][0] > 0
    # No time passes in the resumed process: its epoch starts where the
    # checkpoint's compute ended instead of at zero.
    assert history[column][2] == pytest.approx(first[column][1], rel=0.01)


@pytest.mark.slow
def test_a_run_interrupted_mid_epoch_writes_the_uninterrupted_history(
    tmp_path, monkeypatch):
  """Same data order, noise and epoch means: Ctrl-C at step 9 of 12 (half
  way through the second epoch), then the same command, gives the history
  of a run that was never stopped."""
  whole = str(tmp_path / 'whole')
  cli.main(TINY + ['--steps', '12', '--out', whole])
  resumed = str(tmp_path / 'resumed')
  _kill_at_step(monkeypatch, callbacks.StepLog, 'on_train_batch_end', 9,
                KeyboardInterrupt)
  with pytest.raises(SystemExit) as stopped:
    cli.main(TINY + ['--steps', '12', '--out', resumed])
  assert stopped.value.code == 130
  monkeypatch.undo()
  cli.main(TINY + ['--steps', '12', '--out', resumed])
  expected, got = (callbacks.read_history_rows(f'{run}/history.csv')
                   for run in (whole, resumed))
  assert len(got) == len(expected) == 2
  for row, reference in zip(got, expected):
    assert (row['epoch'], row['step']) == (reference['epoch'],
                                           reference['step'])
    for column in ('bpd', 'val_bpd', 'skipped_steps'):
      np.testing.assert_allclose(float(row[column]), float(reference[column]),
                                 rtol=0, atol=1e-6, err_msg=column)


def test_the_eta_after_a_resume_leaves_out_the_first_step(monkeypatch, capsys):
  """The first step of a process traces and compiles (here 100 s); the
  rate is timed from its end."""
  now = {'seconds': 0.}
  monkeypatch.setattr(callbacks.time, 'perf_counter', lambda: now['seconds'])
  state = type('State', (), {'step': 100})()
  log = callbacks.StepLog(state, total_steps=200, every=50)
  log.on_train_begin()
  for state.step, now['seconds'] in ((101, 100.), (150, 105.)):
    log.on_train_batch_end(0, {'bpd': 2.})
  lines = capsys.readouterr().out.splitlines()
  assert lines == ['step 150/200  bits/dim 2.0000  9.80 steps/s  ETA 0m05s']


@pytest.mark.slow
def test_settings_change_the_config_only_when_they_train(tmp_path, capsys):
  out = str(tmp_path / 'run')
  path = tmp_path / 'run' / 'config.json'
  cli.main(TINY + ['--steps', '6', '--base-df', '10', '--out', out])
  before = path.read_text()
  cli.main(TINY + ['--steps', '6', '--lr', '1e-4', '--out', out])
  assert path.read_text() == before
  assert 'nothing to train (its config.json stays as it is)' in (
      capsys.readouterr().out)
  cli.main(TINY + ['--steps', '12', '--lr', '1e-4', '--out', out])
  config = json.loads(path.read_text())
  assert config['lr'] == 1e-4 and config['base_df'] == 10  # kept on resume
  assert config['segments'] == [{'from_step': 6, 'lr': [2e-3, 1e-4]}]
  cli.main(TINY + ['--steps', '13', '--lr', '1e-4', '--base-df', '0', '--out',
                   out])
  assert json.loads(path.read_text())['segments'][-1] == {
      'from_step': 12, 'base_df': [10, None]}
  # Each invocation that trained is recorded, with where and how it ran.
  first, second, _ = provenance.read(out)
  assert (first['from_step'], second['from_step']) == (0, 6)
  assert '--lr 1e-4' in second['command'] and '--lr' not in first['command']
  assert second['machine'].startswith(provenance.cpu())
  assert second['code'] == provenance.code_version() != ''
  assert (first['to_step'], second['to_step']) == (6, 12)
  assert first['cpu_hours'] > 0 and second['cpu_hours'] > 0
