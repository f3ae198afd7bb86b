"""Symmetric (depthwise) convolution diagonalised by the DCT."""

import tensorflow as tf

from tfp_invconv import dct
from tfp_invconv.bijectors import base


class SymmetricConv(base.FlowBijectorBase):
  """Depthwise symmetric convolution with a learned DCT spectrum.

  Karami, Schuurmans, Sohl-Dickstein, Dinh & Duckworth (2019), "Invertible
  Convolutional Flow", §1.2 and §2. A symmetric convolution is diagonal in the
  DCT basis, so per channel c:

    Forward:  y_c = DCT^-1(w_c * DCT(x_c))      (over H, W; or the features)
    Log-det:  sum_{c,k} log|w_c[k]|
    Inverse:  x_c = DCT^-1(DCT(y_c) / w_c)

  Both directions cost the same two transforms. Here w = exp(log_w) is a
  learned spectrum (w = 1 at init, never 0; |log w| <= base.MAX_LOG_SCALE,
  so |y|_2 <= e^10 |x|_2 both ways: the DCT is orthonormal); the CONF coupling
  (`conf_coupling.py`) uses the same filter with a spectrum produced by a
  conditioner, the adaptive filter w(x1) * x2.

  `dct_type=2` (orthonormal DCT-II) is the default. Measured with
  `python -m benchmarks.symmetric` (benchmarks/results/symmetric.md), both
  types cost the same and round-trip to the same float32 error at the CIFAR
  level shapes; DCT-II is preferred because it is orthogonal (condition number
  1 against about 2 for the paper's unnormalised DCT-I), so the filter is
  exactly a symmetric matrix whose eigenvalues are w, and because it is
  defined for every size (DCT-I needs at least 2 points per axis, which the
  last level of a deep multi-scale flow may not have).

  ```python
  conv = SymmetricConv((16, 16, 12))
  z = conv.forward(x)                # two DCTs per channel
  ```

  Growth bound: |log w| <= 10 and the DCT is orthonormal, so
  |y|_2 <= e^10 |x|_2 and |x|_2 <= e^10 |y|_2 per channel.

  References:
    Karami, Schuurmans, Sohl-Dickstein, Dinh, Duckworth (2019). Invertible
    Convolutional Flow. NeurIPS 2019.
  """

  def __init__(self, event_shape, dct_type=2, dtype=tf.float32,
               validate_args=False, name='symmetric_conv'):
    """Creates the layer.

    Args:
      event_shape: (H, W, C) for images (2-D DCT over H and W) or (D,) for
        vectors (1-D DCT over the features).
      dct_type: 2 (orthonormal DCT-II, default) or 1 (the paper's DCT-I).
      dtype, validate_args, name: as for every bijector here.
    """
    parameters = dict(locals())
    event_shape = tuple(int(d) for d in event_shape)
    if len(event_shape) not in (1, 3):
      raise ValueError(f'event_shape must be (H, W, C) or (D,); got '
                       f'{event_shape}.')
    dct.matrices(event_shape[0], dct_type, tf.float64)  # validates the type
    self._dct_type = dct_type
    self._event_rank = len(event_shape)
    layer = base.parameter_layer(name, dtype)
    self._log_w = base.assign_weight(layer, 'log_spectrum', event_shape)
    super().__init__(event_shape_in=event_shape, layers=[layer],
                     forward_min_event_ndims=self._event_rank,
                     is_constant_jacobian=True, dtype=dtype,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  @property
  def event_rank(self):
    return self._event_rank

  def _filter(self, x, log_w):
    return dct.filter_in_frequency(x, tf.exp(log_w), self._dct_type,
                                   self._event_rank)

  def _log_spectrum(self):
    return base.bounded_log_scale(self._log_w)

  def _log_det(self, x, log_w):
    return tf.fill([tf.shape(x)[0]], tf.reduce_sum(log_w))

  def _forward_and_log_det(self, x):
    log_w = self._log_spectrum()
    return self._filter(x, log_w), self._log_det(x, log_w)

  def _inverse_and_log_det(self, y):
    log_w = self._log_spectrum()
    return self._filter(y, -log_w), -self._log_det(y, log_w)
