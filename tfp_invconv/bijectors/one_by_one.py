"""Invertible 1 x 1 convolution with an LU-decomposed weight (Glow).

Kingma & Dhariwal (2018), "Glow: Generative Flow with Invertible 1x1
Convolutions", §3.2:

  Forward:  y = x @ W,   W = P L (U + diag(exp(log_s)))
  Log-det:  H * W * sum_c log_s_c
  Inverse:  x = y @ W^-1 (two triangular solves and a permutation)

P is a fixed permutation, L unit lower triangular, U strictly upper
triangular; W starts as a random rotation.
"""

import keras
import numpy as np
import scipy.linalg
import tensorflow as tf

from tfp_invconv import solvers
from tfp_invconv.bijectors import base


class Invertible1x1Conv(base.FlowBijectorBase):
  """Glow's 1 x 1 convolution, LU-parametrised (invertible by construction)."""

  def __init__(self, channels, dtype=tf.float32, validate_args=False,
               name='invertible_1x1_conv'):
    parameters = dict(locals())
    c = self._channels = int(channels)
    rotation = keras.initializers.Orthogonal()([c, c], dtype='float64')
    permutation, lower, upper = scipy.linalg.lu(np.asarray(rotation))
    layer = base.parameter_layer(name, dtype)
    self._permutation = base.assign_weight(
        layer, 'permutation', [c, c], value=permutation, trainable=False)
    self._lower = base.assign_weight(layer, 'lower', [c, c], value=lower)
    self._upper = base.assign_weight(layer, 'upper', [c, c],
                                     value=np.triu(upper, k=1))
    self._log_s = base.assign_weight(
        layer, 'log_s', [c], value=np.log(np.abs(np.diag(upper))))
    # Fixed like P, but drawn at random: saved so that restored weights
    # rebuild the same W.
    self._sign_s = base.assign_weight(layer, 'sign_s', [c],
                                      value=np.sign(np.diag(upper)),
                                      trainable=False)
    super().__init__(event_shape_in=[None, None, c], layers=[layer],
                     dtype=dtype, validate_args=validate_args,
                     parameters=parameters, name=name)

  def _factors(self):
    ones = tf.ones([self._channels], self.dtype)
    lower = tf.linalg.set_diag(tf.linalg.band_part(self._lower, -1, 0), ones)
    diagonal = self._sign_s * tf.exp(self._log_s)
    upper = tf.linalg.set_diag(tf.linalg.band_part(self._upper, 0, -1),
                               diagonal)
    return tf.convert_to_tensor(self._permutation), lower, upper

  def weight(self):
    """The C x C matrix W = P L U."""
    permutation, lower, upper = self._factors()
    return permutation @ lower @ upper

  def _log_det(self, x):
    return base.constant_log_det(x, tf.reduce_sum(self._log_s))

  def _forward_and_log_det(self, x):
    return solvers.apply_channel_matrix(x, self.weight()), self._log_det(x)

  def _inverse_and_log_det(self, y):
    permutation, lower, upper = self._factors()
    identity = tf.eye(self._channels, dtype=self.dtype)
    lower_inv = tf.linalg.triangular_solve(lower, identity, lower=True)
    upper_inv = tf.linalg.triangular_solve(upper, identity, lower=False)
    w_inv = upper_inv @ lower_inv @ tf.transpose(permutation)
    return solvers.apply_channel_matrix(y, w_inv), -self._log_det(y)
