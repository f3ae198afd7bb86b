"""Variational dequantization (Ho et al. 2019, Flow++ §3.1).

Uniform dequantization adds u ~ U[0, 1)^D to the integer pixels k. Flow++
draws u from a learned q(u | k) instead and trains it jointly with the model;
for any q the bound

  log P(k) >= E_q[ log p((k + u) / L - 0.5) - D log L - log q(u | k) ]

holds, and a better q tightens it. Here q is a small conditional flow:

  eps ~ Logistic(0, 1),  z = g_k(eps)  (checkerboard affine couplings, each
                                        conditioned on a feature map of k),
  u = sigmoid(z),
  log q(u | k) = log p(eps) - log|det dz/d eps| - sum log sigmoid'(z).

The couplings start as the identity, and sigmoid of a standard logistic is
uniform: q starts as uniform dequantization exactly (log q = 0), so
training can only move the bound from uniform's, never start behind it.
(A Gaussian eps, `base='gaussian'`, the form dequantizers were saved with
before, cannot reach the uniform: its bound trails uniform dequantization's
even on the flow trained with it.)

Checkerboard masks (not channel halves) make it work for one-channel images.
"""

import math

import keras
import tensorflow as tf

from tfp_invconv import nets


BASES = ('logistic', 'gaussian')


def checkerboard(height, width, parity, dtype):
  """[H, W, 1] mask, 1 where (i + j + parity) is even."""
  i = tf.range(height)[:, None]
  j = tf.range(width)[None, :]
  return tf.cast((i + j + parity) % 2 == 0, dtype)[:, :, None]


@keras.saving.register_keras_serializable(package='tfp_invconv')
class VariationalDequantizer(keras.layers.Layer):
  """q(u | k): a conditional flow from logistic noise to (0, 1)^D, which
  starts as uniform dequantization (see the module doc).

  Args:
    image_shape: (H, W, C) of the images.
    hidden_width, steps: width of the networks and number of couplings.
    base: 'logistic' (q starts uniform), or 'gaussian' (dequantizers saved
      before the logistic base, whose couplings can only shrink).
  """

  def __init__(self, image_shape, hidden_width=32, steps=4, seed=None,
               base='logistic', dtype='float32',
               name='variational_dequantizer', **kwargs):
    super().__init__(name=name, dtype=dtype, **kwargs)
    if base not in BASES:
      raise ValueError(f'base must be one of {BASES}, got {base!r}.')
    self.base = base
    self._config = dict(image_shape=[int(d) for d in image_shape],
                        hidden_width=hidden_width, steps=steps, seed=seed,
                        base=base)
    height, width, channels = (int(d) for d in image_shape)
    self.image_shape = (height, width, channels)
    self.context = keras.Sequential([
        keras.layers.Conv2D(hidden_width, 3, padding='same',
                            activation='relu', dtype=dtype),
        keras.layers.Conv2D(hidden_width, 3, padding='same',
                            activation='relu', dtype=dtype),
    ], name=f'{name}_context')
    self.context.build((None, height, width, channels))
    self.step_nets = [
        nets.glow_conditioner(channels + hidden_width, 2 * channels,
                              hidden_width, dtype=dtype,
                              name=f'{name}_step{i}')
        for i in range(steps)]
    self._noise = keras.random.SeedGenerator(seed)

  def get_config(self):
    return dict(super().get_config(), **self._config)

  @classmethod
  def from_config(cls, config):
    # Configs saved before the logistic base name none: theirs was Gaussian.
    return cls(**dict({'base': 'gaussian'}, **config))

  def sample(self, pixels_continuous):
    """u ~ q(u | k) and log q(u | k) per example.

    Args:
      pixels_continuous: the integer images mapped to [-0.5, 0.5)
        (k / L - 0.5), [N, H, W, C].
    """
    shape = tf.shape(pixels_continuous)
    if self.base == 'gaussian':
      eps = keras.random.normal(shape, dtype=self.dtype, seed=self._noise)
    else:
      tiny = 1e-6  # keeps the logit of the uniform finite
      v = keras.random.uniform(shape, minval=tiny, maxval=1. - tiny,
                               dtype=self.dtype, seed=self._noise)
      eps = tf.math.log(v) - tf.math.log1p(-v)
    return self.transform(eps, pixels_continuous)

  def transform(self, eps, pixels_continuous):
    """u = sigmoid(g_k(eps)) and log q(u | k) (exposed for the tests)."""
    height, width, _ = self.image_shape
    context = self.context(pixels_continuous)
    z = eps
    log_det = tf.zeros_like(eps)
    for parity, net in enumerate(self.step_nets):
      mask = checkerboard(height, width, parity % 2, eps.dtype)
      shift, raw = tf.split(net(tf.concat([z * mask, context], axis=-1)), 2,
                            axis=-1)
      log_scale = self._log_scale(raw) * (1. - mask)
      z = mask * z + (1. - mask) * (z + shift) * tf.exp(log_scale)
      log_det += log_scale
    log_det += tf.math.log_sigmoid(z) + tf.math.log_sigmoid(-z)
    log_q = tf.reduce_sum(self._log_base(eps) - log_det, axis=[-3, -2, -1])
    return tf.sigmoid(z), log_q

  def _log_scale(self, raw):
    """Each coupling's log scale: 0 (the identity) at initialisation for
    the logistic base, within (-1, 1); at most 0 for the Gaussian one."""
    if self.base == 'gaussian':
      return tf.math.log_sigmoid(raw + 2.)
    return tf.tanh(raw)

  def _log_base(self, eps):
    if self.base == 'gaussian':
      return -0.5 * (eps ** 2 + math.log(2. * math.pi))
    return tf.math.log_sigmoid(eps) + tf.math.log_sigmoid(-eps)
