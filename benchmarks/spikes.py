"""Held-out spikes of the quality benchmark's runs, and whether they rank
with the final bits/dim.

Reads the saved runs of `benchmarks.quality` (their held-out curves, every
`--eval-every` steps on a fixed subset of the test split) and, per run:
the summed rises of the curve (every increase from one evaluation to the
next), the largest single rise and the final test bits/dim. Across runs,
Spearman's rank correlation of the summed rises with the final bits/dim and
its two-sided p-value: does a run end worse because it spiked?

  python -m benchmarks.spikes --runs benchmarks/results/quality_runs \\
      --dataset mnist --models glow-affine emerging-affine cinc-affine cinc-quad
"""

import argparse
import glob
import json
import os

import numpy as np

from benchmarks import common


def rises(curve):
  """(summed rises, largest single rise) of a held-out curve."""
  steps = np.diff(np.asarray(curve, dtype=np.float64))
  up = steps[steps > 0]
  return float(up.sum()), float(up.max()) if up.size else 0.


def read_runs(folder, dataset, models):
  """The saved runs of `models` on `dataset`, ordered by model and seed."""
  runs = []
  for model in models:
    paths = sorted(glob.glob(os.path.join(folder,
                                          f'{dataset}_{model}_seed*.json')))
    if not paths:
      raise FileNotFoundError(f'no saved run of {model} on {dataset} in '
                              f'{folder}')
    for path in paths:
      with open(path) as f:
        runs.append(json.load(f))
  return runs


def main(argv=None):
  from scipy import stats
  parser = argparse.ArgumentParser(prog='benchmarks.spikes',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--runs', required=True,
                      help="a quality benchmark's --runs folder")
  parser.add_argument('--dataset', default='mnist')
  parser.add_argument('--models', nargs='+', required=True)
  parser.add_argument('--out', default=None)
  args = parser.parse_args(argv)
  out = args.out or os.path.join(
      os.path.dirname(os.path.normpath(args.runs)),
      f'{os.path.basename(os.path.normpath(args.runs))}_spikes.md')
  runs = read_runs(args.runs, args.dataset, args.models)
  summed, largest = zip(*(rises(run['curve_bpd']) for run in runs))
  final = [run['test_bpd'] for run in runs]
  rho, p = stats.spearmanr(summed, final)
  rows = [[run['model'], run['seed'], f'{s:.3f}', f'{l:.3f}', f'{f:.4f}']
          for run, s, l, f in zip(runs, summed, largest, final)]
  command = ' '.join(['python -m benchmarks.spikes', '--runs', args.runs,
                      '--dataset', args.dataset, '--models', *args.models])
  common.write_markdown(
      out, f'Held-out spikes against the final bits/dim ({args.dataset})',
      command, 'any (reads saved runs)',
      ['model', 'seed', 'summed rises', 'largest rise', 'test bits/dim'],
      rows, notes=[
          f'Spearman rank correlation of summed rises with test bits/dim '
          f'over these {len(runs)} runs: {rho:.2f} (two-sided p = {p:.3f}).',
          'Rises: increases of the held-out curve (a fixed subset of the '
          'test split) from one evaluation to the next; test bits/dim: the '
          'whole split at the last step.'])
  print(f'wrote {out}')


if __name__ == '__main__':
  main()
