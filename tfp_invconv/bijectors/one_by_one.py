"""Invertible 1 x 1 convolution with an LU-decomposed weight (Glow).

Kingma & Dhariwal (2018), "Glow: Generative Flow with Invertible 1x1
Convolutions", §3.2:

  Forward:  y = x @ W,   W = P L (U + diag(sign * exp(log_s)))
  Log-det:  H * W * sum_c log_s_c
  Inverse:  x = y @ W^-1 (two triangular solves and a permutation)

P is a fixed permutation, L unit lower triangular, U strictly upper
triangular; W starts as a random rotation (`lu_matrix.LUMatrix`).
"""

import tensorflow as tf

from tfp_invconv import solvers
from tfp_invconv.bijectors import base
from tfp_invconv.bijectors.lu_matrix import LUMatrix


class Invertible1x1Conv(base.FlowBijectorBase):
  """Glow's 1 x 1 convolution, LU-parametrised (invertible by construction)."""

  def __init__(self, channels, dtype=tf.float32, validate_args=False,
               name='invertible_1x1_conv'):
    parameters = dict(locals())
    base.check_positive_int(channels=channels)
    layer = base.parameter_layer(name, dtype)
    self._weight = LUMatrix(layer, channels)
    super().__init__(event_shape_in=[None, None, int(channels)],
                     layers=[layer], dtype=dtype, validate_args=validate_args,
                     parameters=parameters, name=name)

  def weight(self):
    """The C x C matrix W = P L U."""
    return self._weight.matrix()

  def _log_det(self, x):
    return base.constant_log_det(x, self._weight.log_abs_det())

  def _forward_and_log_det(self, x):
    return solvers.apply_channel_matrix(x, self.weight()), self._log_det(x)

  def _inverse_and_log_det(self, y):
    return (solvers.apply_channel_matrix(y, self._weight.inverse()),
            -self._log_det(y))
