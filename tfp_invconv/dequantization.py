"""Variational dequantization (Ho et al. 2019, Flow++ §3.1).

Uniform dequantization adds u ~ U[0, 1)^D to the integer pixels k. Flow++
draws u from a learned q(u | k) instead and trains it jointly with the model;
for any q the bound

  log P(k) >= E_q[ log p((k + u) / L - 0.5) - D log L - log q(u | k) ]

holds, and a better q tightens it. Here q is a small conditional flow:

  eps ~ N(0, I),  z = g_k(eps)  (checkerboard affine couplings, each
                                 conditioned on a feature map of k),
  u = sigmoid(z),
  log q(u | k) = log N(eps) - log|det dz/d eps| - sum log sigmoid'(z).

Checkerboard masks (not channel halves) make it work for one-channel images.
"""

import math

import keras
import tensorflow as tf

from tfp_invconv import nets


def checkerboard(height, width, parity, dtype):
  """[H, W, 1] mask, 1 where (i + j + parity) is even."""
  i = tf.range(height)[:, None]
  j = tf.range(width)[None, :]
  return tf.cast((i + j + parity) % 2 == 0, dtype)[:, :, None]


@keras.saving.register_keras_serializable(package='tfp_invconv')
class VariationalDequantizer(keras.layers.Layer):
  """q(u | k): a conditional flow from Gaussian noise to (0, 1)^D."""

  def __init__(self, image_shape, hidden_width=32, steps=4, seed=None,
               dtype='float32', name='variational_dequantizer', **kwargs):
    super().__init__(name=name, dtype=dtype, **kwargs)
    self._config = dict(image_shape=[int(d) for d in image_shape],
                        hidden_width=hidden_width, steps=steps, seed=seed)
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

  def sample(self, pixels_continuous):
    """u ~ q(u | k) and log q(u | k) per example.

    Args:
      pixels_continuous: the integer images mapped to [-0.5, 0.5)
        (k / L - 0.5), [N, H, W, C].
    """
    eps = keras.random.normal(tf.shape(pixels_continuous), dtype=self.dtype,
                              seed=self._noise)
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
      log_scale = tf.math.log_sigmoid(raw + 2.) * (1. - mask)
      z = mask * z + (1. - mask) * (z + shift) * tf.exp(log_scale)
      log_det += log_scale
    log_det += tf.math.log_sigmoid(z) + tf.math.log_sigmoid(-z)
    log_normal = -0.5 * (eps ** 2 + math.log(2. * math.pi))
    log_q = tf.reduce_sum(log_normal - log_det, axis=[-3, -2, -1])
    return tf.sigmoid(z), log_q
