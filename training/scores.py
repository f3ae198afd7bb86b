"""Per-image bits/dim summed up so that a few images cannot hide in a mean.

A mean over a test set is what papers report, but one overflowing image
makes it 1e29 and a handful of atypical ones can move it far more than
their number suggests. `summary` prints the mean beside the median, the
count of images that are not finite, and the share of the total taken by
the worst 0.1%; when that tail takes more than ten times its share, it says
that a few images dominate the mean and how to list them. `record` and
`recorded` keep the summary beside a run's weights (`evaluation.json`), so
that every later header quotes the number `evaluate` printed.
"""

import math
import os

import numpy as np

from training import callbacks, files

EVALUATION = 'evaluation.json'
TAIL = 0.001  # the worst 0.1% of images
DOMINANCE = 10  # a tail taking this many times its share dominates


def formatted(value):
  """Bits/dim to 4 decimals, or in exponent notation when huge."""
  return f'{value:.4f}' if abs(value) < 1e4 else f'{value:.3e}'


def statistics(bpd):
  """Mean, median (NaN counted as +inf), the non-finite count, the mean of
  the finite images and the worst 0.1%'s share of their total."""
  bpd = np.asarray(bpd, np.float64)
  finite = bpd[np.isfinite(bpd)]
  tail = max(1, math.ceil(TAIL * len(finite)))
  total = finite.sum()
  return dict(
      images=len(bpd), mean=float(np.mean(bpd)),
      median=float(np.median(np.where(np.isnan(bpd), np.inf, bpd))),
      non_finite=int(len(bpd) - len(finite)),
      finite_mean=float(np.mean(finite)) if len(finite) else math.nan,
      tail_images=tail,
      tail_share=(float(np.sort(finite)[-tail:].sum() / total)
                  if len(finite) and total > 0 else math.nan))


def summary(bpd, what='test', worst_command=None):
  """Lines describing per-image bits/dim `bpd` (see the module doc);
  `worst_command` is how to list the worst images."""
  s = statistics(bpd)
  lines = [f'{what} bits/dim: {formatted(s["mean"])} (mean of {s["images"]} '
           f'images; median {formatted(s["median"])})']
  hint = f'; {worst_command} lists them' if worst_command else ''
  if s['non_finite']:
    lines.append(f'{s["non_finite"]} of {s["images"]} images are not finite '
                 '(NaN or Inf), so neither is the mean; the other '
                 f'{s["images"] - s["non_finite"]} average '
                 f'{formatted(s["finite_mean"])}{hint}')
  if s['images'] - s['non_finite'] > s['tail_images']:
    share = s['tail_share']
    line = (f'the worst {TAIL:.1%} of finite images ({s["tail_images"]}) take '
            f'{share:.2%} of their total')
    fair = s['tail_images'] / (s['images'] - s['non_finite'])
    if share > DOMINANCE * fair:
      line += f': a few images dominate the mean{hint}'
    lines.append(line)
  return lines


def record(run, bpd, dataset):
  """Writes the statistics of `bpd`, the bits/dim of the run's saved weights
  on every image of `dataset`, to the run folder."""
  step = int(callbacks.best_weights_row(run)['step'])
  files.write_json(os.path.join(run, EVALUATION),
                   dict(statistics(bpd), dataset=dataset, step=step))


def recorded(run):
  """The statistics `record` wrote in `run`, or None."""
  return files.read_json(os.path.join(run, EVALUATION))
