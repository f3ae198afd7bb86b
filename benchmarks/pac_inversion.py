"""Inverting a trained PAC flow: solver steps, convergence, accuracy, speed.

For held-out MNIST images and a PAC flow trained with the training CLI:
  - encode (bin-centre dequantization), then decode with each solver, and
    report the max |x - decode(encode(x))|;
  - the steps every PAC layer's two triangular solves take: 'rows' solves
    one image row per step (H steps each), 'jacobi' iterates until no
    entry changes by more than its tolerance;
  - for Jacobi, max |x(t+1) - x(t)| against the iteration, averaged over
    the layers (the PAC paper's Fig. 5), as a PNG;
  - the time to sample a batch against `log_prob` of a batch of the same
    size, both traced, at `--threads` threads.

  python -m training train --preset pac_demo --dataset ../shared/data/mnist.npz --steps 1500 --threads 1 --out benchmarks/results/pac_mnist_small
  python -m benchmarks.pac_inversion --run benchmarks/results/pac_mnist_small --data ../shared/data
"""

import json
import os

import numpy as np

from benchmarks import common
from training import provenance

SOLVERS = ('rows', 'jacobi')


def _held_out(args):
  with np.load(os.path.join(args.data, 'mnist.npz')) as arrays:
    return arrays['x_test'][:args.batch][..., None]


def solve_records(model, pixels):
  """Decodes the encodings of `pixels` eagerly (so every PAC solve is
  recorded); returns (max reconstruction error, records)."""
  import tensorflow as tf
  from tfp_invconv import diagnostics
  x = model.dequantize(pixels, noise='center')
  z = model.encode(x)
  with diagnostics.recording_solves(model.flow) as records:
    decoded = model.flow.forward(tf.identity(z))
  return float(tf.reduce_max(tf.abs(decoded - x))), records


def timings(model, pixels, repeats):
  import tensorflow as tf
  x = model.dequantize(pixels, noise='center')
  log_prob = tf.function(model.log_prob)
  sample = tf.function(lambda: model.sample(len(pixels), seed=0))
  return (common.median_seconds(lambda: log_prob(x).numpy(), repeats),
          common.median_seconds(lambda: sample().numpy(), repeats))


def plot_changes(path, records):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  changes = [r['changes'] for r in records if r['solver'] == 'jacobi']
  longest = max(len(c) for c in changes)
  padded = np.full((len(changes), longest), np.nan)
  for i, c in enumerate(changes):
    padded[i, :len(c)] = c
  fig, ax = plt.subplots(figsize=(6, 4))
  for c in changes:
    ax.semilogy(np.arange(1, len(c) + 1), c, color='grey', alpha=0.25, lw=1)
  ax.semilogy(np.arange(1, longest + 1), np.nanmean(padded, axis=0),
              color='C0', lw=2, label='mean over the layers still iterating')
  ax.set(xlabel='Jacobi iteration', ylabel='max |x(t+1) - x(t)|',
         title=f'PAC inverses of {len(changes)} triangular solves')
  ax.grid(alpha=0.3, which='both')
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv=None):
  parser = common.make_parser(
      'pac_inversion', __doc__.split('\n')[0], batch=64, repeats=5,
      out='benchmarks/results/pac_inversion.md')
  parser.add_argument('--run', required=True, help='a PAC training run')
  parser.add_argument('--data', default='../shared/data',
                      help='folder with mnist.npz')
  args, command = common.parse(parser, argv)
  from training import artifacts, callbacks
  pixels = _held_out(args)
  config = artifacts.read_config(args.run)
  history = callbacks.read_history(os.path.join(args.run, 'history.csv'))
  rows, all_records = [], {}
  for solver in SOLVERS:
    model, _ = artifacts.load_model(args.run, solver=solver)
    error, records = solve_records(model, pixels)
    all_records[solver] = records
    steps = [r['steps'] for r in records]
    seconds_log_prob, seconds_sample = timings(model, pixels, args.repeats)
    rows.append([solver, len(records), f'{np.mean(steps):.1f}', max(steps),
                 sum(steps), f'{error:.2e}', f'{seconds_log_prob:.3f}',
                 f'{seconds_sample:.3f}',
                 f'{seconds_sample / seconds_log_prob:.2f}'])
    print(' | '.join(map(str, rows[-1])), flush=True)
  png = os.path.splitext(args.out)[0] + '.png'
  os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
  plot_changes(png, all_records['jacobi'])
  per_layer = ['', '| layer | triangle | rows steps | Jacobi iterations |',
               '|---|---|---|---|']
  for rows_record, jacobi_record in zip(all_records['rows'],
                                        all_records['jacobi']):
    per_layer.append(f'| {rows_record["layer"]} | {rows_record["triangle"]} '
                     f'| {rows_record["steps"]} | {jacobi_record["steps"]} |')
  common.write_markdown(
      args.out, 'Inverting a trained PAC flow', command,
      provenance.machine(args.threads),
      ['solver', 'triangular solves', 'steps per solve (mean)', 'max',
       'total', f'max reconstruction error ({args.batch} held-out images)',
       f'log_prob s (batch {args.batch})', f'sample s (batch {args.batch})',
       'sample / log_prob'],
      rows,
      notes=[f'Model: `{args.run}`, trained {history["step"][-1]:.0f} steps '
             f'(held-out {history["val_bpd"][-1]:.4f} bits/dim) with '
             f'`{json.dumps(config)}`. Each PAC layer is two triangular '
             'solves (L, then U). Errors: max |x - decode(encode(x))| in '
             'float32 over the bin-centre dequantized held-out images.', '',
             f'![Jacobi convergence]({os.path.basename(png)})'] + per_layer)
  print(open(args.out).read())


if __name__ == '__main__':
  main()
