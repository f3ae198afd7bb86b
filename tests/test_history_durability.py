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
