"""The latent space of a flow: encode, decode, sample, and the operations
of a trained FlowModel on it (no I/O).

Glow/CInC-style: images are encoded at the bin centre, moved in the flat
latent space and decoded back. The operations return integer pixels and,
per image, whether every decoded value was finite (`PixelCodec.to_pixels`).
"""

import tensorflow as tf


class LatentSpace:
  """Encoding (image -> flat latent z), decoding and sampling through a
  generative-direction flow.

  Called eagerly, each runs a traced graph, built once per input signature
  (the solves' loops never run op by op in Python), compiled with XLA when
  `jit_compile()` says so; inside an outer graph (fit, a SavedModel
  signature) the flow runs as it is.
  """

  def __init__(self, flow, jit_compile=lambda: False, df=None):
    self.flow = flow
    self._jit_compile = jit_compile
    self.df = df
    self.graphs = {}

  def encode(self, x):
    return self._in_graph('encode', self.flow.inverse)(
        tf.cast(x, self.flow.float_dtype))

  def decode(self, z):
    return self._in_graph('decode', self.flow.forward)(
        tf.cast(z, self.flow.float_dtype))

  def sample(self, n, temperature=1.0, seed=None):
    """Decodes n base draws times T (N(0, T^2 I) for the normal base);
    `seed` makes them reproducible."""
    z = base_draws(n, self.flow.latent_size, self.flow.float_dtype, self.df,
                   None if seed is None else int(seed))
    return self.decode(z * temperature)

  def _in_graph(self, name, fn):
    if not tf.executing_eagerly():
      return fn
    key = (name, bool(self._jit_compile()))
    if key not in self.graphs:
      self.graphs[key] = tf.function(fn, reduce_retracing=True,
                                     jit_compile=key[1])
    return self.graphs[key]


def base_draws(n, latent_size, dtype, df=None, seed=None):
  """[n, latent_size] draws of the base (`flows.base_distribution`): normal,
  or Student's t with `df` degrees of freedom as normal / sqrt(chi2_df /
  df). A seed (an int or scalar tensor, for graphs) fixes them; the normal
  part is the same with either base."""
  shape = tf.stack([n, latent_size])
  if seed is None:
    z = tf.random.normal(shape, dtype=dtype)
  else:
    z = tf.random.stateless_normal(shape, seed=tf.stack([seed, 0]),
                                   dtype=dtype)
  if df is None:
    return z
  half_df = tf.cast(df, dtype) / 2
  if seed is None:
    gamma = tf.random.gamma(shape, half_df, dtype=dtype)
  else:
    gamma = tf.random.stateless_gamma(shape, tf.stack([seed, 1]), half_df,
                                      dtype=dtype)
  return z * tf.sqrt(half_df / gamma)


def interpolate(model, pixels_a, pixels_b, num=8):
  """Decoded images along the straight latent path from a to b.

  Returns integer pixels [num, H, W, C] (the first and last equal a and
  b) and the finite mask [num].
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

  Returns integer pixels [len(scales), N, H, W, C] and the finite mask
  [len(scales), N].
  """
  z = model.encode(model.dequantize(pixels, noise='center'))
  moved = [model.to_pixels(model.decode(z + s * direction)) for s in scales]
  return tf.stack([p for p, _ in moved]), tf.stack([f for _, f in moved])
