"""An invertible C x C matrix in Glow's LU parametrisation.

  W = P L (U + diag(sign * exp(log_s)))     |log_s| <= base.MAX_LOG_SCALE

P is a fixed permutation, L unit lower triangular, U strictly upper
triangular and `sign` a fixed +-1 per channel; W starts as a random rotation
(Kingma & Dhariwal 2018, §3.2). Then log|det W| = sum(log_s), and
W^-1 = (U + diag)^-1 L^-1 P^T takes two triangular solves: W is invertible by
construction and is never inverted as a general matrix. Glow's 1 x 1
convolution and the centre tap of `CInCConv2D` (centre='lu') share it.
"""

import keras
import numpy as np
import scipy.linalg
import tensorflow as tf

from tfp_invconv.bijectors import base


class LUMatrix:
  """The weights of an LU-parametrised matrix, created on a Keras layer."""

  def __init__(self, layer, channels):
    c = self._channels = int(channels)
    rotation = keras.initializers.Orthogonal()([c, c], dtype='float64')
    permutation, lower, upper = scipy.linalg.lu(np.asarray(rotation))
    self.permutation = base.assign_weight(
        layer, 'permutation', [c, c], value=permutation, trainable=False)
    self.lower = base.assign_weight(layer, 'lower', [c, c], value=lower)
    self.upper = base.assign_weight(layer, 'upper', [c, c],
                                    value=np.triu(upper, k=1))
    self.log_s = base.assign_weight(layer, 'log_s', [c],
                                    value=np.log(np.abs(np.diag(upper))))
    # Fixed like P, but drawn at random: saved so that restored weights
    # rebuild the same W.
    self.sign_s = base.assign_weight(layer, 'sign_s', [c],
                                     value=np.sign(np.diag(upper)),
                                     trainable=False)

  def factors(self):
    """(P, L, U + diag) as tensors."""
    ones = tf.ones([self._channels], self.lower.dtype)
    lower = tf.linalg.set_diag(tf.linalg.band_part(self.lower, -1, 0), ones)
    diagonal = self.sign_s * tf.exp(self.bounded_log_s())
    upper = tf.linalg.set_diag(tf.linalg.band_part(self.upper, 0, -1),
                               diagonal)
    return tf.convert_to_tensor(self.permutation), lower, upper

  def matrix(self):
    """W = P L U."""
    permutation, lower, upper = self.factors()
    return permutation @ lower @ upper

  def inverse(self):
    """W^-1 from two triangular solves and a transposed permutation."""
    permutation, lower, upper = self.factors()
    identity = tf.eye(self._channels, dtype=lower.dtype)
    lower_inv = tf.linalg.triangular_solve(lower, identity, lower=True)
    upper_inv = tf.linalg.triangular_solve(upper, identity, lower=False)
    return upper_inv @ lower_inv @ tf.transpose(permutation)

  def bounded_log_s(self):
    """log_s within +-`base.MAX_LOG_SCALE`."""
    return base.bounded_log_scale(self.log_s)

  def log_abs_det(self):
    """log|det W| = sum(log_s)."""
    return tf.reduce_sum(self.bounded_log_s())
