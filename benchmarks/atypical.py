"""Bits/dim of in-range images unlike the training data, and where a
non-finite one first overflows.

For a pretrained model (or a run folder) and its test images, this scores
`--count` images of each kind of `training.atypical` (blank, saturated,
uniform noise, and test digits inverted, shifted and cropped) and, for
every image whose bits/dim is not finite, walks the flow's normalizing
direction layer by layer (bin-centre dequantization) and names the first
layer whose output holds a value beyond `--overflow` (or a NaN/Inf), with
the largest |value| of its input: a layer-by-layer trace of where the
likelihood breaks.

  python -m benchmarks.atypical --pretrained mnist \\
      --data ../shared/data/mnist.npz
"""

import collections

import numpy as np

from benchmarks import common
from training import provenance


def layer_trace(bijector, x):
  """[(layer name, largest |output| per example)] in the normalizing
  direction of `bijector` (a Chain, FactorOut, Invert or layer), and the
  output."""
  from tfp_invconv.bijectors.factor_out import FactorOut
  import tensorflow as tf
  steps = []
  if hasattr(bijector, 'bijectors'):  # Chain: applied last to first
    for child in reversed(bijector.bijectors):
      child_steps, x = layer_trace(child, x)
      steps += child_steps
    return steps, x
  if isinstance(bijector, FactorOut):
    kept, factored = x[..., :bijector._kept], x[..., bijector._kept:]
    inner_steps, latent = layer_trace(bijector.inner_bijectors[0], kept)
    flat = tf.reshape(factored, [tf.shape(x)[0], -1])
    return inner_steps, tf.concat([flat, latent], axis=-1)
  y = bijector.forward(x)
  largest = tf.reduce_max(tf.abs(tf.reshape(y, [tf.shape(y)[0], -1])), -1)
  largest = tf.where(tf.reduce_all(tf.math.is_finite(
      tf.reshape(y, [tf.shape(y)[0], -1])), -1), largest, np.inf)
  return [(bijector.name, largest.numpy())], y


def first_overflow(model, images, limit):
  """Per image, (layer, largest |input| of that layer) of the first layer
  whose output exceeds `limit` in absolute value; None if none does."""
  x = model.dequantize(images, 'center')
  normalizing = model.flow.bijectors[0].bijector  # Invert(normalizing)
  steps, _ = layer_trace(normalizing, x)
  found = []
  for i in range(len(images)):
    previous = float(np.max(np.abs(np.asarray(x)[i])))
    hit = None
    for name, largest in steps:
      if not largest[i] <= limit:
        hit = (name, previous)
        break
      previous = float(largest[i])
    found.append(hit)
  return found


def main(argv=None):
  parser = common.make_parser('atypical', __doc__.split('\n')[0], batch=100,
                              out='benchmarks/results/atypical.md')
  common.add_model_source(parser)
  parser.add_argument('--data', required=True,
                      help='.npz with the x_test images to alter')
  parser.add_argument('--count', type=int, default=100)
  parser.add_argument('--overflow', type=float, default=1e6,
                      help='a layer output beyond this counts as overflow')
  args, command = common.parse(parser, argv)
  from training import atypical
  model = common.load_model(args)
  test = np.load(args.data)['x_test']
  test = test[..., None] if test.ndim == 3 else test
  rows = []
  for kind, images in atypical.atypical_images(test, args.count).items():
    bpd = np.concatenate([np.asarray(model.bits_per_dim(
        images[i:i + args.batch], noise='center'))
                          for i in range(0, len(images), args.batch)])
    bad = np.flatnonzero(~np.isfinite(bpd))
    hits = first_overflow(model, images[bad], args.overflow) if len(bad) else []
    layers = collections.Counter(hit[0] for hit in hits if hit)
    inputs = [hit[1] for hit in hits if hit]
    finite = bpd[np.isfinite(bpd)]
    rows.append([kind, args.count, len(bad),
                 f'{np.median(finite):.3f}' if len(finite) else '-',
                 f'{np.max(finite):.4g}' if len(finite) else '-',
                 ', '.join(f'{n} ({c})' for n, c in layers.most_common(3))
                 or '-', f'{np.median(inputs):.3g}' if inputs else '-'])
    print(' | '.join(map(str, rows[-1])), flush=True)
  common.write_markdown(
      args.out, 'Atypical in-range images: bits/dim and first overflow',
      command, provenance.machine(args.threads),
      ['kind', 'images', 'non-finite bits/dim', 'median (finite)',
       'largest finite', 'first layer past the overflow limit (images)',
       'its largest |input| (median)'],
      rows, notes=[
          'Bits/dim with bin-centre dequantization. Kinds from '
          '`training.atypical.atypical_images` (seed 0): blank, saturated '
          '(all 255), uniform noise, and test images inverted, shifted 3 '
          'pixels sideways and cropped (a half-size window scaled up). For '
          'each non-finite image, the first layer in the normalizing '
          f'direction whose output passes |value| > {args.overflow:g}.'])
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
