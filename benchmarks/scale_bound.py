"""The bound c of the soft-clamped scales, log s = c tanh(r / c): measured.

Trains the README's first MNIST model (preset `demo` with 3 levels, the
short run a user starts with) for a few hundred steps with each coupling
scale, 'sigmoid' (the papers' reference code) and 'tanh' at several c, over
seeds, each run a CLI subprocess on one thread. For each it reports the
held-out bits/dim of the whole MNIST test split and how many of N samples
at T = 0.7 and T = 1.0 hold a non-finite value. Finished runs are kept
under --runs with the steps, batch and sample count they were made with,
and skipped on a rerun with the same ones (benchmarks/runs.py), so an
interrupted invocation resumes.

  python -m benchmarks.scale_bound --data ../shared/data/mnist.npz
"""

import concurrent.futures
import os
import statistics
import subprocess
import sys

from benchmarks import common, runs
from training import provenance

TEMPERATURES = (0.7, 1.0)


def _settings(bounds):
  return [('sigmoid', None)] + [('tanh', c) for c in bounds]


def _label(scale, bound):
  return scale if bound is None else f'{scale} c={bound:g}'


def _train(args, scale, bound, seed):
  """Trains one run (unless its result exists with these settings); returns
  its result. The training CLI resumes the run folder if interrupted."""
  folder = os.path.join(args.runs, f'{_label(scale, bound)}_seed{seed}'
                        .replace(' ', '_').replace('=', ''))
  run = runs.Run(os.path.join(folder, 'result.json'), steps=args.steps,
                 batch=args.batch, samples=args.samples)
  result = run.saved()
  if result is not None:
    return result
  command = [sys.executable, '-m', 'training', 'train', '--preset', 'demo',
             '--dataset', args.data, '--levels', '3', '--steps',
             str(args.steps), '--batch-size', str(args.batch), '--seed',
             str(seed), '--threads', '1', '--scale', scale, '--out', folder]
  if bound is not None:
    command += ['--log-scale-bound', str(bound)]
  subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
  return run.save(dict(scale=scale, bound=bound, seed=seed,
                       held_out=_held_out(folder),
                       **_non_finite(folder, args.samples)))


def _held_out(folder):
  from training import callbacks
  rows = callbacks.read_history_rows(os.path.join(folder, 'history.csv'))
  return float(rows[-1]['val_bpd'])


def _non_finite(folder, samples):
  """{'T=0.7': count, ...}: samples with a non-finite value."""
  code = (
      'import json, numpy as np\n'
      'from benchmarks import common\n'
      'common.set_threads(1)\n'
      'from training import artifacts\n'
      f'model, _ = artifacts.load_model({folder!r})\n'
      f'counts = {{f"T={{t}}": int((~np.isfinite(np.asarray(model.sample('
      f'{samples}, temperature=t, seed=1))).reshape({samples}, -1).all(1))'
      f'.sum()) for t in {TEMPERATURES!r}}}\n'
      'print(json.dumps(counts))\n')
  counts, _ = common.run_python(code)
  return counts


def _row(results, samples):
  held_out = [r['held_out'] for r in results]
  sd = statistics.stdev(held_out) if len(held_out) > 1 else float('nan')
  first = results[0]
  row = [_label(first['scale'], first['bound']), len(results),
         f'{statistics.mean(held_out):.4f}', f'{sd:.4f}']
  for t in TEMPERATURES:
    total = sum(r[f'T={t}'] for r in results)
    row.append(f'{total} / {samples * len(results)}')
  return row


def main(argv=None):
  parser = common.make_parser('scale_bound', __doc__, batch=64,
                              out='benchmarks/results/scale_bound.md')
  parser.add_argument('--data', required=True, help='mnist.npz')
  parser.add_argument('--bounds', type=float, nargs='+', default=[1, 2, 3, 5])
  parser.add_argument('--seeds', type=int, default=3)
  parser.add_argument('--steps', type=int, default=200)
  parser.add_argument('--samples', type=int, default=64)
  parser.add_argument('--jobs', type=int, default=2)
  parser.add_argument('--runs', default='benchmarks/results/scale_bound_runs')
  args, command = common.parse(parser, argv)
  jobs = [(scale, bound, seed) for scale, bound in _settings(args.bounds)
          for seed in range(args.seeds)]
  with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
    results = list(pool.map(_train, [args] * len(jobs), *zip(*jobs)))
  rows = []
  for scale, bound in _settings(args.bounds):
    rows.append(_row([r for r in results if (r['scale'], r['bound'])
                      == (scale, bound)], args.samples))
  header = ['coupling and prior scale', 'seeds', 'held-out bits/dim (mean)',
            'sd'] + [f'non-finite samples at T = {t}' for t in TEMPERATURES]
  common.write_markdown(
      args.out, 'Bounded scales: held-out bits/dim and non-finite samples',
      command, provenance.machine(1), header, rows, notes=[
          f'Each run: `python -m training train --preset demo --dataset DATA '
          f'--levels 3 --steps {args.steps} --batch-size {args.batch} --seed '
          'S --threads 1 --scale SCALE [--log-scale-bound C]` (the demo CInC flow with Quad '
          'couplings on MNIST padded to 32 x 32); held-out bits/dim over the '
          f'10,000 test images; {args.samples} samples per temperature '
          '(latent seed 1) counted as non-finite when any value is NaN or '
          "Inf. 'sigmoid' is sigmoid(r + 2) in the couplings and Glow's "
          "exp in the priors; 'tanh c' is log s = c tanh(r / c) in both."])
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
