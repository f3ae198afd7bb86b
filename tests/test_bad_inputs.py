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
  with pytest.raises(data.DataError, match=r'3.png is \(5, 4\), but .*0.png'):
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
