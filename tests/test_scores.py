"""Bits/dim summaries name non-finite images and a dominating tail, and
evaluate's number is the one every later header quotes."""

import math
import os
import shutil

import numpy as np
import pytest

from training import data, scores

FIXTURE_RUN = os.path.join(os.path.dirname(__file__), 'fixtures',
                           'saved_runs', 'glow')


def _typical(n=2000):
  return np.random.default_rng(0).normal(1.6, 0.1, n)


def test_typical_images_give_mean_median_and_an_undominated_tail():
  bpd = _typical()
  lines = scores.summary(bpd)
  assert lines[0] == (f'test bits/dim: {np.mean(bpd):.4f} (mean of 2000 '
                      f'images; median {np.median(bpd):.4f})')
  assert len(lines) == 2 and 'dominate' not in lines[1]
  assert 'worst 0.1% of finite images (2) take 0.' in lines[1]


def test_an_overflowing_image_is_counted_and_the_rest_averaged():
  bpd = _typical()
  bpd[7], bpd[9] = np.inf, np.nan
  lines = scores.summary(bpd, worst_command='evaluate --worst 2')
  assert 'test bits/dim: nan' in lines[0]
  # NaN counts as +inf, not as a poison.
  assert f'median {np.median(np.nan_to_num(bpd, nan=np.inf)):.4f}' in lines[0]
  assert lines[1].startswith('2 of 2000 images are not finite')
  expected = np.mean(np.delete(bpd, [7, 9]))
  assert f'the other 1998 average {expected:.4f}' in lines[1]
  assert lines[1].endswith('evaluate --worst 2 lists them')


def test_a_few_huge_finite_images_are_said_to_dominate():
  bpd = _typical()
  bpd[3] = 1e3  # 0.05% of the images, a quarter of the total
  lines = scores.summary(bpd, worst_command='evaluate --worst 2')
  assert len(lines) == 2
  share = (1e3 + np.sort(bpd)[-2]) / bpd.sum()
  assert f'take {share:.2%} of their total' in lines[1]
  assert lines[1].endswith('a few images dominate the mean; evaluate '
                           '--worst 2 lists them')


def test_statistics_of_all_non_finite_images_are_nan_not_errors():
  s = scores.statistics([np.inf, np.nan])
  assert s['non_finite'] == 2 and math.isnan(s['finite_mean'])
  assert s['median'] == np.inf


@pytest.mark.slow
def test_evaluate_reports_an_overflowing_image_and_records_its_numbers(
    tmp_path, monkeypatch, capsys):
  """A model whose image 5 overflows: evaluate prints the median, the
  count and the pointer to --worst, records them, and the pretrained header
  then quotes the recorded mean."""
  from training import __main__ as cli
  from training import pretrained
  run = str(tmp_path / 'glow')
  shutil.copytree(FIXTURE_RUN, run)
  score = data.bits_per_dim_per_image

  def overflowing_image_5(*args, **kwargs):
    bpd = score(*args, **kwargs)
    bpd[5] = np.inf
    return bpd

  monkeypatch.setattr(data, 'bits_per_dim_per_image', overflowing_image_5)
  cli.main(['evaluate', '--run', run])
  printed = capsys.readouterr().out
  assert 'test bits/dim: inf (mean of 297 images; median ' in printed
  assert ('1 of 297 images are not finite (NaN or Inf), so neither is the '
          'mean; the other 296 average ') in printed
  assert f'python -m training evaluate --run {run} --worst 1 lists them' in (
      printed)
  recorded = scores.recorded(run)
  assert recorded['non_finite'] == 1 and recorded['step'] == 2
  assert recorded['mean'] == np.inf and recorded['dataset'] == 'digits'

  assert f'median {scores.formatted(recorded["median"])})' in printed

  monkeypatch.setattr(pretrained, 'run_folder', lambda name: run)
  assert pretrained.header('mnist') == (
      'pretrained mnist: inf test bits/dim on 297 images (python -m training '
      'evaluate), weights of training step 2')
