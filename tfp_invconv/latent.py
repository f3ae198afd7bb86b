"""Latent-space operations of a trained FlowModel (no I/O).

Glow/CInC-style: images are encoded at the bin centre, moved in the flat
latent space and decoded back.
"""

import tensorflow as tf


def interpolate(model, pixels_a, pixels_b, num=8):
  """Decoded images along the straight latent path from a to b.

  Returns integer pixels [num, H, W, C]; the first and last equal a and b.
  """
  z_a, z_b = (model.encode(model.dequantize(p[None], noise='center'))
              for p in (pixels_a, pixels_b))
  t = tf.linspace(tf.constant(0., z_a.dtype), 1., num)[:, None]
  return model.to_pixels(model.decode((1. - t) * z_a + t * z_b))


def attribute_direction(model, batches):
  """Mean latent of images with an attribute minus the mean without it.

  `batches` yields (pixels, has_attribute) pairs; both groups must be
  non-empty. This is the CInC paper's CelebA manipulation direction.
  """
  sums = {True: 0., False: 0.}
  counts = {True: 0, False: 0}
  for pixels, labels in batches:
    z = model.encode(model.dequantize(pixels, noise='center'))
    labels = tf.cast(labels, tf.bool)
    for value in (True, False):
      chosen = tf.boolean_mask(z, labels if value else ~labels)
      sums[value] += tf.reduce_sum(chosen, axis=0)
      counts[value] += int(tf.shape(chosen)[0])
  if not counts[True] or not counts[False]:
    raise ValueError(f'an attribute direction needs images with and without '
                     f'the attribute; got {counts[True]} with, '
                     f'{counts[False]} without.')
  return sums[True] / counts[True] - sums[False] / counts[False]


def manipulate(model, pixels, direction, scales):
  """Each image moved by scale * direction, for each scale.

  Returns integer pixels [len(scales), N, H, W, C].
  """
  z = model.encode(model.dequantize(pixels, noise='center'))
  return tf.stack([model.to_pixels(model.decode(z + s * direction))
                   for s in scales])
