"""Every bad input a user can give gets one clear error, never a number.

Library entry points raise `ValueError` (or `training.data.DataError`, a
`ValueError`) naming the problem; the command-line tools print one line, no
traceback, and exit non-zero.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import tfp_invconv as ti
from tfp_invconv import bijectors as tfib
from training import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')


@pytest.mark.parametrize('make,message', [
    (lambda: tfib.CInCConv2D(0), 'channels must be a positive integer, got 0'),
    (lambda: tfib.CInCConv2D(4, kernel_size=0),
     'kernel_size must be a positive integer, got 0'),
    (lambda: tfib.CInCConv2D(4, centre='full'), 'centre must be one of'),
    (lambda: tfib.CInCConv2D(4, diagonal='unit'),
     "diagonal='unit' needs centre='triangular'"),
    (lambda: tfib.Invertible1x1Conv(-2),
     'channels must be a positive integer, got -2'),
    (lambda: tfib.Invertible1x1Conv(4, event_rank=2),
     r'event_rank must be 3 \(images\) or 1 \(vectors\), got 2'),
    (lambda: ti.SymmetricConvVectorFlow(4, mixing='shuffle'),
     "mixing must be 'reverse' or 'lu', got 'shuffle'"),
    (lambda: ti.CInCFlow((8, 8, 1), levels=0),
     'levels must be a positive integer, got 0'),
    (lambda: ti.CInCFlow((8, 8, 1), levels=1, depth=0),
     'depth must be a positive integer, got 0'),
])
def test_constructors_reject_nonsense(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def _npz(tmp_path, **arrays):
  path = str(tmp_path / 'data.npz')
  np.savez(path, **arrays)
  return path


@pytest.mark.parametrize('arrays,message', [
    (dict(x_train=np.random.rand(4, 8, 8).astype(np.float32)),
     r'pixels are float32, expected integers in \[0, 256\)'),
    (dict(x_train=np.full((4, 8, 8), 300, np.int32)),
     r'pixel values span \[300, 300\], outside \[0, 256\)'),
    (dict(x_train=np.full((4, 8, 8), -1, np.int16)),
     r'pixel values span \[-1, -1\]'),
    (dict(x_train=np.zeros((0, 8, 8), np.uint8)), 'non-empty array'),
    (dict(images=np.zeros((4, 8, 8), np.uint8)),
     "has no 'x_train' array \\(it has images\\)"),
])
def test_npz_loader_refuses_what_it_would_misread(tmp_path, arrays, message):
  with pytest.raises(data.DataError, match=message):
    data.load(_npz(tmp_path, **arrays), 'train')


def test_corrupt_npz_and_missing_paths(tmp_path):
  corrupt = tmp_path / 'corrupt.npz'
  corrupt.write_bytes(b'not a zip file')
  with pytest.raises(data.DataError, match='is not a readable .npz file'):
    data.load(str(corrupt))
  with pytest.raises(data.DataError, match='no such dataset file'):
    data.load(str(tmp_path / 'missing.npz'))
  with pytest.raises(data.DataError, match='no such dataset folder or file'):
    data.load(str(tmp_path / 'missing_folder'))


def test_image_folder_errors_name_the_file(tmp_path):
  from PIL import Image
  folder = tmp_path / 'images'
  folder.mkdir()
  for i in range(3):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / f'{i}.png')
  Image.fromarray(np.zeros((5, 4), np.uint8)).save(folder / '3.png')
  with pytest.raises(data.DataError,
                     match=r'3.png is 4 x 5, but .*0.png is 4 x 4: .* one size'):
    data.load(str(folder), 'train')
  Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / '3.png')
  with pytest.raises(data.DataError, match=r'3.png has 3 channels, but .*0.png '
                     r'has one channel \(grey\): .* same channels'):
    data.load(str(folder), 'train')
  (folder / '3.png').write_bytes(b'not a png')
  with pytest.raises(data.DataError, match='cannot read image .*3.png'):
    data.load(str(folder), 'train')


def _cli_error(*args):
  result = subprocess.run([sys.executable, '-m', *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode != 0, result.stdout[-2000:]
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  return lines


@pytest.mark.slow
@pytest.mark.parametrize('args,message', [
    (['training', 'train', '--steps', '-1', '--out', 'unused'],
     'python -m training train: error: argument --steps: must be a positive '
     'integer, got -1'),
    (['training', 'train', '--batch-size', '0', '--out', 'unused'],
     'python -m training train: error: argument --batch-size: must be a '
     'positive integer, got 0'),
    (['training', 'train', '--dataset', 'no/such/folder', '--out', 'unused'],
     'python -m training train: error: no such dataset folder or file: '
     'no/such/folder'),
    (['training', 'evaluate', '--run', 'no_such_run'],
     'python -m training evaluate: error: no_such_run is not a training '
     'output folder (no config.json)'),
    (['export', '--checkpoint', 'no_such_run', '--out', 'unused_out'],
     'python -m export: error: no_such_run is not a training output folder '
     '(no config.json)'),
])
def test_cli_user_errors_are_one_line(args, message):
  assert _cli_error(*args) == [message]


@pytest.mark.slow
def test_an_npz_without_a_test_split_trains_and_says_so(tmp_path, capsys):
  from training import __main__ as cli
  from training import callbacks
  path = tmp_path / 'train_only.npz'
  images = np.random.default_rng(0).integers(0, 256, (32, 8, 8), np.uint8)
  np.savez(path, x_train=images)
  out = tmp_path / 'run'
  cli.main(['train', '--dataset', str(path), '--steps', '2', '--depth', '1',
            '--hidden-width', '8', '--batch-size', '16', '--out', str(out)])
  assert (f"no test split ({path} has no 'x_test' array (it has x_train)): "
          'training without held-out bits/dim') in capsys.readouterr().out
  rows = callbacks.read_history_rows(str(out / 'history.csv'))
  assert rows and 'val_bpd' not in rows[0]


def test_a_malformed_test_split_is_an_error_not_a_missing_one(tmp_path):
  path = tmp_path / 'bad_test.npz'
  np.savez(path, x_train=np.zeros((4, 8, 8), np.uint8),
           x_test=np.zeros((4, 8, 8), np.float32))
  with pytest.raises(data.DataError, match='pixels are float32') as error:
    data.load(str(path), 'test')
  assert not isinstance(error.value, data.MissingSplit)
