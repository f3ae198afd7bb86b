"""Why samples overflow: where sampling leaves the range training saw.

A coupling's inverse divides by its scale: s = sigmoid(r + 2) in (0, 1)
in the papers' models, s in (e^-2, e^2) with the bounded default.
Sampling at temperature T draws z ~ N(0, T^2 I) and runs the flow's
generative direction: an unusual z can feed a conditioner inputs larger
than any it met on data, its scale then amplifies the next coupling's
input, and so on until a value overflows float32. For a pretrained model
(or a run folder) this reports, per temperature, the samples with a
non-finite value; over the finite ones the largest conditioner input and
the smallest scale any coupling used; and, for the non-finite ones, the
coupling whose conditioner first saw an input beyond the largest on test
images (most often). The test-image row gives that range. Inputs and
scales come from `diagnostics.recording_couplings` (eager runs).

  python -m benchmarks.sampling_overflow --pretrained cifar10 \\
      --data ../shared/data/cifar10_subset.npz
"""

import collections
import os

import numpy as np

from benchmarks import common
from training import provenance


def _largest_inputs(records):
  """[conditioner runs, examples] largest |input| (inf when not finite)."""
  rows = []
  for r in records:
    values = np.abs(r['inputs'].reshape(len(r['inputs']), -1))
    rows.append(np.where(np.isfinite(values).all(axis=1), values.max(axis=1),
                         np.inf))
  return np.stack(rows)


def _smallest_log_scales(records):
  """[couplings, examples] smallest log-scale of each affine coupling run
  (the split priors' scales left out)."""
  from tfp_invconv import diagnostics
  from tfp_invconv.bijectors.coupling import AffineTransform
  return np.stack([diagnostics.smallest_log_scale(r) for r in records
                   if isinstance(r['transform'], AffineTransform)
                   and not r['coupling'].startswith('split_prior')])


def run_recorded(model, fn):
  """fn() with the model's conditioner inputs and affine scales recorded:
  (result, largest inputs, smallest log-scales, coupling names in run
  order)."""
  from tfp_invconv import diagnostics
  with diagnostics.recording_couplings(model.flow) as records:
    result = fn()
  return (result, _largest_inputs(records), _smallest_log_scales(records),
          [r['coupling'] for r in records])


def test_range(model, images, batch):
  """(largest conditioner input, smallest scale) over test images."""
  largest, smallest = 0., np.inf
  for i in range(0, len(images), batch):
    _, inputs, log_scales, _ = run_recorded(
        model, lambda: model.bits_per_dim(images[i:i + batch]))
    largest = max(largest, float(inputs.max()))
    smallest = min(smallest, float(np.exp(log_scales.min())))
  return largest, smallest


def sample_overflow(model, temperature, num, seed, test_largest):
  """Non-finite samples, the largest input and smallest scale over the
  finite ones, and {coupling: overflowing samples that first left the test
  range there}."""
  import tensorflow as tf
  z = tf.random.stateless_normal([num, model.flow.latent_size],
                                 seed=[seed, 0], dtype=model.dtype_float)
  x, inputs, log_scales, names = run_recorded(
      model, lambda: model.flow.forward(z * temperature).numpy())
  finite = np.isfinite(x.reshape(num, -1)).all(axis=1)
  exits = collections.Counter(
      names[int(np.argmax(inputs[:, i] > test_largest))]
      for i in np.flatnonzero(~finite) if (inputs[:, i] > test_largest).any())
  largest = float(inputs[:, finite].max()) if finite.any() else np.nan
  smallest = (float(np.exp(log_scales[:, finite].min())) if finite.any()
              else np.nan)
  return int((~finite).sum()), largest, smallest, exits


def main(argv=None):
  parser = common.make_parser('sampling_overflow', __doc__.split('\n')[0],
                              batch=100)
  common.add_model_source(parser)
  parser.add_argument('--data', required=True,
                      help='an .npz with x_test: the range training saw')
  parser.add_argument('--test-images', type=int, default=500)
  parser.add_argument('--temperatures', type=float, nargs='+',
                      default=[0.7, 0.8, 0.9, 1.0])
  parser.add_argument('--num', type=int, default=100)
  parser.add_argument('--seed', type=int, default=1)
  args, command = common.parse(parser, argv)
  model = common.load_model(args)
  with np.load(args.data) as arrays:
    images = arrays['x_test'][:args.test_images]
  test_largest, test_smallest = test_range(model, images, args.batch)
  rows = [[f'{len(images)} test images', '-', f'{test_largest:.3g}',
           f'{test_smallest:.3g}', '-']]
  for t in args.temperatures:
    bad, largest, smallest, exits = sample_overflow(
        model, t, args.num, args.seed, test_largest)
    where = ', '.join(f'{name} ({n})' for name, n in exits.most_common(3))
    rows.append([f'{args.num} samples at T = {t}', bad, f'{largest:.3g}',
                 f'{smallest:.3g}', where or '-'])
    print(rows[-1], flush=True)
  name = args.pretrained or os.path.basename(os.path.normpath(args.run))
  out = args.out or f'benchmarks/results/sampling_overflow_{name}.md'
  common.write_markdown(
      out, f'Sampling overflow: {name}', command,
      provenance.machine(args.threads),
      ['inputs', 'non-finite samples', 'largest conditioner input',
       'smallest coupling scale', 'non-finite samples: first coupling '
       'past the test range (count)'], rows,
      ['Largest input and smallest scale over the finite samples (test '
       'images: all of them). A coupling listed last column is where a '
       'non-finite sample first fed a conditioner an input beyond the '
       'test images\' largest.'])
  print(open(out).read())


if __name__ == '__main__':
  main()
