"""End to end: data pipelines, the training CLI with resume, SavedModel export."""

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from training import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_digits_are_embedded_with_17_levels():
  digits = data.load('digits')
  assert digits.image_shape == (8, 8, 1) and digits.num_levels == 17
  batch = next(iter(data.batches(digits, 32)))
  assert batch.dtype == tf.uint8 and batch.shape == (32, 8, 8, 1)
  assert int(tf.reduce_max(batch)) <= 16


def test_npz_dataset(tmp_path):
  path = str(tmp_path / 'tiny.npz')
  np.savez(path, x_train=np.zeros((10, 4, 4), np.uint8),
           x_test=np.ones((3, 4, 4), np.uint8))
  test = data.load(path, 'test')
  assert test.image_shape == (4, 4, 1) and test.size == 3
  assert test.num_levels == 256


def test_tfds_loading_with_mock_data():
  with tfds.testing.mock_data(num_examples=5):
    mnist = data.load('mnist', 'train')
    batch = next(iter(data.batches(mnist, 5, flip=True)))
  assert mnist.image_shape == (28, 28, 1)
  assert batch.shape == (5, 28, 28, 1) and batch.dtype == tf.uint8


def test_missing_tfds_dataset_is_a_clear_message(tmp_path):
  start = time.perf_counter()
  with pytest.raises(data.DataError, match="could not load tensorflow-datasets "
                     "'cifar10' .* not prepared there: pass --download"):
    data.load('cifar10', 'train', data_dir=str(tmp_path))
  assert time.perf_counter() - start < 10  # no download retries


ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
TINY = ['--preset', 'demo', '--dataset', 'digits', '--depth', '1',
        '--hidden-width', '8', '--batch-size', '250']  # 6 steps per epoch


def _run(*args):
  result = subprocess.run([sys.executable, '-m', *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
  return result.stdout


@pytest.mark.slow
def test_train_resume_and_export(tmp_path):
  out = str(tmp_path / 'run')
  tiny = TINY + ['--out', out]
  _run('training', 'train', '--steps', '12', *tiny)
  history = open(os.path.join(out, 'history.csv')).read().splitlines()
  assert len(history) == 1 + 2  # header + two 6-step epochs
  for name in ('samples.png', 'bpd.png', 'model.weights.h5', 'config.json'):
    assert os.path.exists(os.path.join(out, name)), name

  # A second call with more steps resumes after the two finished epochs.
  _run('training', 'train', '--steps', '18', *tiny)
  history = open(os.path.join(out, 'history.csv')).read().splitlines()
  epochs = [int(line.split(',')[0]) for line in history[1:]]
  assert epochs == [0, 1, 2], history

  assert 'test bits/dim:' in _run('training', 'evaluate', '--run', out)
  _run('training', 'sample', '--run', out, '--num', '4')
  assert os.path.exists(os.path.join(out, 'samples_by_temperature.png'))

  printed = _run('export', '--checkpoint', out, '--out', str(tmp_path / 'sm'))
  assert '"log_prob": "ok"' in printed
  assert 'saved_model_cli run bits_per_dim: ok' in printed
  config = json.load(open(os.path.join(out, 'config.json')))
  assert config['num_levels'] == 17

  assert _fail('training', 'interpolate', '--run', out, '--pairs', '0',
               '99999') == ("python -m training interpolate: error: --pairs: "
                            "indices must lie in [0, 297), the test images of "
                            "the run's dataset")
  assert _fail('training', 'manipulate', '--run', out, '--attribute',
               'Smiling') == ("python -m training manipulate: error: "
                              "--attribute 'Smiling': digits has class labels;"
                              " give a class index such as 3")

  run_files = sorted(os.listdir(out))
  refused = _fail('export', '--checkpoint', out, '--out', out, '--overwrite')
  assert 'is not empty and is not a SavedModel' in refused
  assert sorted(os.listdir(out)) == run_files  # nothing deleted
  assert 'already holds a SavedModel; pass --overwrite' in _fail(
      'export', '--checkpoint', out, '--out', str(tmp_path / 'sm'),
      '--no-verify')
  _run('export', '--checkpoint', out, '--out', str(tmp_path / 'sm'),
       '--overwrite', '--no-verify')

  with open(os.path.join(out, 'config.json')) as f:
    config_text = f.read()
  other = _fail('training', 'train', '--steps', '24', *TINY[:-4],
                '--hidden-width', '16', '--batch-size', '250', '--out', out)
  assert "holds a run of another architecture (hidden_width=8 -> 16)" in other
  with open(os.path.join(out, 'config.json')) as f:
    assert f.read() == config_text
  assert 'test bits/dim:' in _run('training', 'evaluate', '--run', out)


def _check_worst_images(printed, num_images, png):
  """The worst images listed by `evaluate --worst` and the average of the
  others recombine into the printed mean."""
  mean = float(re.search(r'test bits/dim: ([\d.]+)', printed).group(1))
  worst = [float(v) for v in re.findall(r'\d+: ([\d.]+)', re.search(
      r'highest \(test image: bits/dim\): (.*)', printed).group(1))]
  rest = float(re.search(r'the other \d+ average ([\d.]+)', printed).group(1))
  assert worst == sorted(worst, reverse=True) and worst[-1] >= rest
  np.testing.assert_allclose(
      (sum(worst) + (num_images - len(worst)) * rest) / num_images, mean,
      atol=2e-3)
  assert os.path.exists(png)
  with open(png.replace('.png', '.json')) as f:
    report = json.load(f)
  assert report['images'] == num_images and '--worst' in report['command']
  np.testing.assert_allclose(list(report['worst'].values()), worst, rtol=1e-3)
  np.testing.assert_allclose(report['mean_of_the_others'], rest, rtol=1e-3)


def _fail(module, *argv):
  """Runs a CLI command that must fail, in this process (that its error
  is the one line on stderr is `test_bad_inputs`' subject); returns the
  error."""
  main = importlib.import_module(f'{module}.__main__').main
  with pytest.raises(SystemExit) as failure:
    main(list(argv))
  assert isinstance(failure.value.code, str), failure.value.code
  return failure.value.code.strip().splitlines()[-1]


def _latest_step(directory):
  latest = tf.train.latest_checkpoint(directory)
  return int(re.search(r'ckpt-(\d+)$', latest).group(1)) if latest else 0


@pytest.mark.slow
def test_killed_mid_epoch_run_resumes_without_losing_or_repeating_steps(
    tmp_path):
  out = str(tmp_path / 'run')
  command = [sys.executable, '-m', 'training', 'train', '--steps', '48',
             '--checkpoint-every', '2', *TINY, '--out', out]
  checkpoints = os.path.join(out, 'checkpoints')
  run = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
  deadline = time.time() + 600
  while _latest_step(checkpoints) % 6 == 0 and run.poll() is None:
    assert time.time() < deadline, 'no mid-epoch checkpoint appeared'
    time.sleep(0.2)
  run.send_signal(signal.SIGKILL)
  run.wait()
  killed_at = _latest_step(checkpoints)
  assert 0 < killed_at < 48 and killed_at % 6, killed_at

  printed = _run('training', 'train', '--steps', '48', '--checkpoint-every',
                 '2', *TINY, '--out', out)
  assert f'resuming from step {killed_at}' in printed
  assert 'trained 48 steps' in printed
  assert _latest_step(checkpoints) == 48
  epochs = [int(line.split(',')[0]) for line in
            open(os.path.join(out, 'history.csv')).read().splitlines()[1:]]
  # Epochs finished before the kill, then the rest: none twice, none lost.
  assert epochs == list(range(8)), epochs


def _image_folder(path, count, size=(4, 4)):
  from PIL import Image
  path.mkdir()
  for i in range(count):
    Image.fromarray(np.full(size, i, np.uint8)).save(path / f'{i:02d}.png')
  return str(path)


def test_image_folder_holds_out_a_seeded_test_split(tmp_path):
  folder = _image_folder(tmp_path / 'images', 20)
  train, test = data.load(folder, 'train'), data.load(folder, 'test')
  assert (train.size, test.size) == (18, 2)
  values = lambda d: {int(x[0, 0, 0]) for x in d.images.as_numpy_iterator()}
  assert not values(train) & values(test)
  assert values(train) | values(test) == set(range(20))
  assert values(data.load(folder, 'test')) == values(test)  # fixed seed


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
  command = [sys.executable, '-m', 'training', 'train', '--steps', '600',
             '--log-every', '1', *TINY, '--out', out]
  sent, preexec = STOPS[stop]
  run = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=preexec)
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


@pytest.mark.slow
def test_28_by_28_images_train_padded_with_xla_and_memory_saving(tmp_path):
  rng = np.random.default_rng(0)
  path = str(tmp_path / 'mnist_like.npz')
  np.savez(path, x_train=rng.integers(0, 256, (64, 28, 28), np.uint8),
           x_test=rng.integers(0, 256, (16, 28, 28), np.uint8))
  out = str(tmp_path / 'run')
  printed = _run('training', 'train', '--dataset', path, '--preset', 'demo',
                 '--levels', '3', '--depth', '1', '--hidden-width', '8',
                 '--batch-size', '32', '--steps', '2', '--memory-saving',
                 'inverse', '--out', out)
  assert 'padding the 28 x 28 images to 32 x 32, which' in printed
  assert '(mean of 16 images; median' in _run('training', 'evaluate', '--run',
                                               out, '--jit')
  _check_worst_images(_run('training', 'evaluate', '--run', out, '--worst',
                           '3'), 16, os.path.join(out, 'worst_test_images.png'))
  printed = _run('export', '--checkpoint', out, '--out', str(tmp_path / 'sm'))
  assert '"decode": "ok (round trip within' in printed


@pytest.mark.slow
def test_pac_flow_trains_samples_and_exports(tmp_path):
  out = str(tmp_path / 'pac')
  _run('training', 'train', '--preset', 'pac_demo', '--dataset', 'digits',
       '--hidden-width', '8', '--components', '2', '--batch-size', '250',
       '--steps', '2', '--out', out)
  config = json.load(open(os.path.join(out, 'config.json')))
  assert config['model'] == 'pac' and config['components'] == 2
  # Sampling: the training run's grid, and the exported signature.
  assert os.path.exists(os.path.join(out, 'samples.png'))
  printed = _run('export', '--checkpoint', out, '--out', str(tmp_path / 'sm'))
  assert '"sample": "ok"' in printed
  assert '"decode": "ok (round trip within' in printed


@pytest.mark.slow
def test_pretrained_mnist_samples_in_one_command(tmp_path):
  png = str(tmp_path / 'grid.png')
  out = _run('training', 'sample', '--pretrained', 'mnist', '--num', '2',
             '--temperatures', '0.7', '1.0', '--output', png)
  from training import pretrained
  assert pretrained.header('mnist') in out.splitlines()
  assert os.path.getsize(png) > 0


def test_pretrained_model_loads_from_python_and_scores_a_digit():
  from training import pretrained
  model, config = pretrained.load('mnist')
  digit = np.zeros((1,) + tuple(config['image_shape']), np.int32)
  digit[0, 8:20, 12:16] = 255  # a "1"
  bpd = float(model.bits_per_dim(digit, noise='center')[0])
  blank = float(model.bits_per_dim(np.zeros_like(digit), noise='center')[0])
  # An untrained flow puts ~9.5 bits/dim on either; uniform is 8.
  assert np.isfinite(blank) and blank < bpd < 8.


def test_pretrained_cifar10_prefers_a_smooth_image_to_noise():
  from training import pretrained, scores
  model, config = pretrained.load('cifar10')
  shape = (1,) + tuple(config['image_shape'])
  smooth = np.broadcast_to(np.linspace(40, 200, shape[2], dtype=np.int32)[
      None, None, :, None], shape)
  noise = np.random.default_rng(0).integers(0, 256, shape)
  smooth_bpd, noise_bpd = (float(model.bits_per_dim(x, noise='center')[0])
                           for x in (smooth, noise))
  assert smooth_bpd < 8. < noise_bpd  # uniform is 8
  # The header quotes what `evaluate` printed for these very weights.
  evaluation = scores.recorded(pretrained.run_folder('cifar10'))
  assert evaluation['images'] == 5000 and evaluation['non_finite'] == 0
  assert pretrained.header('cifar10') == (
      f'pretrained cifar10: {evaluation["mean"]:.4f} test bits/dim on 5000 '
      'images (python -m training evaluate), weights of training step '
      f'{evaluation["step"]}')
