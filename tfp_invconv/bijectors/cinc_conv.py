"""CInC: an invertible k x k convolution, triangular by construction.

Nagar, Dufraisse & Varma (2021), "CInC Flow: Characterizable Invertible 3x3
Convolution", §3.1 and App. A-B. Padding only on the top and left (k-1 rows
and columns) makes output pixel (i, j) depend on inputs (i', j') <= (i, j);
masking the tap that multiplies x(i, j) itself, K[k-1, k-1], to an upper
triangular C x C matrix makes the Jacobian triangular in raster order:

  Forward:  y = conv_top_left(x, K)
  Log-det:  log|det J| = H * W * sum_c log|K[k-1, k-1][c, c]|
  Inverse:  an exact triangular solve (`tfp_invconv.solvers`): the
            anti-diagonal wavefront (default) or block-Jacobi sweeps.

The diagonal of the centre tap is exp(log_s) (learned, never zero) or fixed
to 1 (`diagonal='unit'`, volume preserving, App. B). `corner='bottom_right'`
is the mirror image: the same layer applied to the image rotated by 180
degrees with its channels reversed, so its receptive field looks down and
right; alternating corners across steps sees every direction.
"""

import numpy as np
import tensorflow as tf

from tfp_invconv import solvers
from tfp_invconv.bijectors import base

CORNERS = ('top_left', 'bottom_right')
DIAGONALS = ('learned', 'unit')
SOLVERS = ('wavefront', 'jacobi')


def _choice(name, value, allowed):
  if value not in allowed:
    raise ValueError(f'{name} must be one of {allowed}, got {value!r}.')
  return value


def _centre_mask(kernel_size, channels):
  """1 where a kernel entry is free: everything but the centre tap's
  diagonal and lower triangle (c_in >= c_out)."""
  mask = np.ones([kernel_size, kernel_size, channels, channels])
  mask[-1, -1] = np.triu(np.ones([channels, channels]), k=1)
  return mask


class CInCConv2D(base.FlowBijectorBase):
  """Invertible k x k convolution with top/left padding (CInC flow)."""

  def __init__(self, channels, kernel_size=3, corner='top_left',
               diagonal='learned', solver='wavefront', tolerance=1e-6,
               kernel_stddev=0.02, dtype=tf.float32, validate_args=False,
               name='cinc_conv2d'):
    """Creates the layer.

    Args:
      channels: number of input (= output) channels C.
      kernel_size: k >= 1 (the paper uses odd k, 3 by default).
      corner: 'top_left' (the paper) or 'bottom_right' (mirrored).
      diagonal: 'learned' (exp(log_s)) or 'unit' (volume preserving).
      solver: 'wavefront' (H + W - 1 steps) or 'jacobi' (block-Jacobi with
        early exit at `tolerance`).
      tolerance: stopping tolerance of the block-Jacobi solver.
      kernel_stddev: std of the random initial taps (the layer starts close
        to, not at, the identity).
      dtype: float32 or float64.
      validate_args: check inputs for NaN/Inf.
      name: name of the bijector and its weights.
    """
    parameters = dict(locals())
    if int(kernel_size) < 1:
      raise ValueError(f'kernel_size must be >= 1, got {kernel_size}.')
    self._channels = int(channels)
    self._kernel_size = int(kernel_size)
    self._corner = _choice('corner', corner, CORNERS)
    self._diagonal = _choice('diagonal', diagonal, DIAGONALS)
    self._solver = _choice('solver', solver, SOLVERS)
    self._tolerance = tolerance
    self._mask = _centre_mask(self._kernel_size, self._channels)
    layer = base.parameter_layer(name, dtype)
    k, c = self._kernel_size, self._channels
    initial = base.random_normal([k, k, c, c], kernel_stddev, dtype)
    self._kernel = base.assign_weight(layer, 'kernel', [k, k, c, c],
                                      value=initial * self._mask)
    self._log_diag = base.assign_weight(
        layer, 'log_diag', [c], trainable=diagonal == 'learned')
    super().__init__(event_shape_in=[None, None, channels], layers=[layer],
                     dtype=dtype, validate_args=validate_args,
                     parameters=parameters, name=name)

  @property
  def kernel_size(self):
    return self._kernel_size

  def _diag(self):
    if self._diagonal == 'unit':
      return tf.ones([self._channels], self.dtype)
    return tf.exp(tf.convert_to_tensor(self._log_diag))

  def effective_kernel(self):
    """[k, k, C, C] kernel of the top-left convolution actually applied."""
    masked = self._kernel * tf.constant(self._mask, self.dtype)
    centre = tf.linalg.diag(self._diag())
    k = self._kernel_size
    return masked + tf.pad(centre[None, None],
                           [[k - 1, 0], [k - 1, 0], [0, 0], [0, 0]])

  def _per_pixel_log_det(self):
    if self._diagonal == 'unit':
      return tf.zeros([], self.dtype)
    return tf.reduce_sum(self._log_diag)

  def _mirrored(self, fn, x):
    if self._corner == 'top_left':
      return fn(x)
    return tf.reverse(fn(tf.reverse(x, [1, 2, 3])), [1, 2, 3])

  def _forward_and_log_det(self, x):
    kernel = self.effective_kernel()
    y = self._mirrored(lambda t: solvers.conv_top_left(t, kernel), x)
    return y, base.constant_log_det(x, self._per_pixel_log_det())

  def _inverse_and_log_det(self, y):
    kernel = self.effective_kernel()
    k = self._kernel_size
    centre_inverse = tf.linalg.triangular_solve(
        kernel[k - 1, k - 1], tf.eye(self._channels, dtype=self.dtype),
        lower=False)
    if self._solver == 'wavefront':
      solve = lambda t: solvers.wavefront_solve(t, kernel, centre_inverse)
    else:
      solve = lambda t: solvers.block_jacobi_solve(
          t, kernel, centre_inverse, tolerance=self._tolerance)
    x = self._mirrored(solve, y)
    return x, -base.constant_log_det(y, self._per_pixel_log_det())
