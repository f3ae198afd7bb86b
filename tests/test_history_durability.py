"""A run killed at any point of an epoch's end keeps history and checkpoint
in agreement: each epoch's row appears exactly once, with its step."""

import pytest

from training import __main__ as cli
from training import callbacks

TINY = ['train', '--preset', 'demo', '--dataset', 'digits', '--depth', '1',
        '--hidden-width', '8', '--batch-size', '250']  # 6 steps per epoch


class _Killed(BaseException):
  """Stands for SIGKILL: nothing after it runs, no handler catches it."""


def _kill_at_step(monkeypatch, cls, method, step):
  original = getattr(cls, method)

  def killing(self, *args, **kwargs):
    if int(self.model.optimizer.iterations.numpy()) == step:
      raise _Killed
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
