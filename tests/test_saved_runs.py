"""Runs and weights saved by earlier versions still load, with the same
likelihood (fixtures: tests/fixtures/saved_runs, written by its make.py)."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from training import artifacts, callbacks

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'saved_runs')
with open(os.path.join(FIXTURES, 'expected.json')) as _f:
  BUILD_OPTIONS = json.load(_f)['build_options']
RUNS = sorted(BUILD_OPTIONS)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pixels():
  return np.load(os.path.join(FIXTURES, 'pixels.npy'))


def _expected(name):
  return np.load(os.path.join(FIXTURES, name, 'expected.npz'))


def _bpd(model):
  return model.bits_per_dim(_pixels(), noise='center').numpy()


@pytest.mark.parametrize('name', RUNS)
def test_saved_best_weights_and_keras_file_give_the_saved_likelihood(name):
  run = os.path.join(FIXTURES, name)
  expected = _expected(name)['weights']
  model, _ = artifacts.load_model(run)
  np.testing.assert_allclose(_bpd(model), expected, rtol=1e-5, atol=1e-5)
  reloaded = keras.models.load_model(os.path.join(run, 'model.keras'))
  np.testing.assert_allclose(_bpd(reloaded), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('name', RUNS)
def test_saved_checkpoint_restores_weights_step_and_average(name):
  run = os.path.join(FIXTURES, name)
  expected = _expected(name)
  config = artifacts.read_config(run)
  model = artifacts.build_model(config, **BUILD_OPTIONS[name])
  model.compile(optimizer=keras.optimizers.Adamax(callbacks.WarmupSchedule(
      config['lr'], config['warmup_steps'], config['lr_drops'])))
  average = callbacks.WeightAverage(model) if 'average' in expected else None
  state = callbacks.TrainingState(model, os.path.join(run, 'checkpoints'),
                                  average=average)
  assert state.restore() == int(expected['step'])
  np.testing.assert_allclose(_bpd(model), expected['checkpoint'], rtol=1e-5,
                             atol=1e-5)
  if average:
    with average.swapped():
      np.testing.assert_allclose(_bpd(model), expected['average'], rtol=1e-5,
                                 atol=1e-5)


def test_the_training_command_resumes_a_saved_run(tmp_path):
  # A run saved before the logistic-noise dequantizer: it resumes with the
  # Gaussian-noise q it was trained with, not the new default.
  run = tmp_path / 'run'
  shutil.copytree(os.path.join(FIXTURES, 'triangular_variational'), run)
  result = subprocess.run(
      [sys.executable, '-m', 'training', 'train', '--out', str(run),
       '--preset', 'demo', '--hidden-width', '16', '--depth', '2',
       '--batch-size', '16', '--seed', '0', '--dataset', 'digits',
       '--centre', 'triangular', '--dequantization', 'variational',
       '--steps', '3', '--threads', '1'],
      cwd=ROOT, capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'resuming from step 2' in result.stdout
  assert 'trained 3 steps' in result.stdout
  model, _ = artifacts.load_model(str(run))
  assert model.dequantizer.base == 'gaussian'
