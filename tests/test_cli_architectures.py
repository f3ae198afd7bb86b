"""The other architectures through the CLI: 28 x 28 images padded, XLA and
memory saving; a PAC flow trained, sampled and exported."""

import json
import os
import re

import numpy as np
import pytest

from tests import cli


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


@pytest.mark.slow
def test_28_by_28_images_train_padded_with_xla_and_memory_saving(tmp_path):
  rng = np.random.default_rng(0)
  path = str(tmp_path / 'mnist_like.npz')
  np.savez(path, x_train=rng.integers(0, 256, (64, 28, 28), np.uint8),
           x_test=rng.integers(0, 256, (16, 28, 28), np.uint8))
  out = str(tmp_path / 'run')
  printed = cli.run('training', 'train', '--dataset', path, '--preset',
                    'demo', '--levels', '3', '--depth', '1', '--hidden-width',
                    '8', '--batch-size', '32', '--steps', '2',
                    '--memory-saving', 'inverse', '--out', out)
  assert 'padding the 28 x 28 images to 32 x 32, which' in printed
  printed = cli.run('training', 'evaluate', '--run', out, '--jit', '--worst',
                    '3')
  assert '(mean of 16 images; median' in printed
  _check_worst_images(printed, 16, os.path.join(out, 'worst_test_images.png'))
  printed = cli.run('export', '--checkpoint', out, '--out',
                    str(tmp_path / 'sm'))
  assert '"decode": "ok (round trip within' in printed


@pytest.mark.slow
def test_pac_flow_trains_samples_and_exports(tmp_path):
  out = str(tmp_path / 'pac')
  cli.run('training', 'train', '--preset', 'pac_demo', '--dataset', 'digits',
          '--levels', '1', '--hidden-width', '8', '--components', '2',
          '--batch-size', '250', '--steps', '2', '--out', out)
  config = json.load(open(os.path.join(out, 'config.json')))
  assert config['model'] == 'pac' and config['components'] == 2
  assert config['levels'] == 1
  # Sampling: the training run's grid, and the exported signature.
  assert os.path.exists(os.path.join(out, 'samples.png'))
  printed = cli.run('export', '--checkpoint', out, '--out',
                    str(tmp_path / 'sm'))
  assert '"sample": "ok"' in printed
  assert '"decode": "ok (round trip within' in printed
