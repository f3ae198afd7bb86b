"""Invertible 1 x 1 convolution with an LU-decomposed weight (Glow)."""

import tensorflow as tf

from tfp_invconv import solvers
from tfp_invconv.bijectors import base
from tfp_invconv.bijectors.lu_matrix import LUMatrix


class Invertible1x1Conv(base.FlowBijectorBase):
  """Glow's 1 x 1 convolution, LU-parametrised (invertible by construction).

  Kingma & Dhariwal (2018), "Glow: Generative Flow with Invertible 1x1
  Convolutions", §3.2:

    Forward:  y = x @ W,   W = P L (U + diag(sign * exp(log_s)))
    Log-det:  H * W * sum_c log_s_c
    Inverse:  x = y @ W^-1 (two triangular solves and a permutation)

  P is a fixed permutation, L unit lower triangular, U strictly upper
  triangular; W starts as a random rotation (`lu_matrix.LUMatrix`). With
  `event_rank=1` the same map acts on vectors [C] (log-det sum_c log_s_c):
  a learned, invertible mixing of the features, e.g. between the couplings of
  a vector flow.

  ```python
  conv = Invertible1x1Conv(12)
  z = conv.forward(x)                # x: [B, H, W, 12]
  ```

  Growth bound: |y| <= |W|_1 |x| and |x| <= |W^-1|_1 |y| per pixel, with
  |log s| <= 10 on U's diagonal, so W is never singular.

  References:
    Kingma, Dhariwal (2018). Glow: Generative Flow with Invertible 1x1
    Convolutions. https://arxiv.org/abs/1807.03039
  """

  def __init__(self, channels, event_rank=3, dtype=tf.float32,
               validate_args=False, name='invertible_1x1_conv'):
    """Creates the layer for images [H, W, C] (event_rank 3) or vectors [C]
    (event_rank 1)."""
    parameters = dict(locals())
    base.check_positive_int(channels=channels)
    if event_rank not in (1, 3):
      raise ValueError(f'event_rank must be 3 (images) or 1 (vectors), got '
                       f'{event_rank!r}.')
    self._event_rank = event_rank
    layer = base.parameter_layer(name, dtype)
    self._weight = LUMatrix(layer, channels)
    super().__init__(event_shape_in=[None] * (event_rank - 1) + [
                         int(channels)], layers=[layer],
                     forward_min_event_ndims=event_rank,
                     is_constant_jacobian=True, dtype=dtype,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  def weight(self):
    """The C x C matrix W = P L U."""
    return self._weight.matrix()

  def _log_det(self, x):
    return base.constant_log_det(x, self._weight.log_abs_det(),
                                 self._event_rank)

  def _forward_and_log_det(self, x):
    return solvers.apply_channel_matrix(x, self.weight()), self._log_det(x)

  def _inverse_and_log_det(self, y):
    return (solvers.apply_channel_matrix(y, self._weight.inverse()),
            -self._log_det(y))
