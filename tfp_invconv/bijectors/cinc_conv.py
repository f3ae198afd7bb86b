"""CInC: an invertible k x k convolution, block triangular by construction."""

import numpy as np
import tensorflow as tf

from tfp_invconv import solvers
from tfp_invconv.bijectors import base
from tfp_invconv.bijectors.lu_matrix import LUMatrix

CENTRES = ('lu', 'triangular')
CORNERS = ('top_left', 'bottom_right')
DIAGONALS = ('learned', 'unit')


def _choice(name, value, allowed):
  if value not in allowed:
    raise ValueError(f'{name} must be one of {allowed}, got {value!r}.')
  return value


def _free_taps(kernel_size, channels, centre):
  """1 where a kernel entry is a free parameter. The centre tap is built
  from its own factors ('lu') or keeps only its strict upper triangle
  (c_in < c_out; 'triangular')."""
  mask = np.ones([kernel_size, kernel_size, channels, channels])
  mask[-1, -1] = (0. if centre == 'lu'
                  else np.triu(np.ones([channels, channels]), k=1))
  return mask


class CInCConv2D(base.FlowBijectorBase):
  """Invertible k x k convolution with top/left padding (CInC flow).

  Nagar, Dufraisse & Varma (2021), "CInC Flow: Characterizable Invertible 3x3
  Convolution", §3.1 and App. A-B. Padding only on the top and left (k-1 rows
  and columns) makes output pixel (i, j) depend on inputs (i', j') <= (i, j),
  so in raster order the Jacobian is block triangular with the centre tap
  C = K[k-1, k-1] (a C x C matrix) on every diagonal block (paper Fig. 1(b)):
  the layer is invertible iff C is.

    Forward:  y = conv_top_left(x, K)
    Log-det:  log|det J| = H * W * log|det C|
    Inverse:  an exact block-triangular solve (`tfp_invconv.solvers`): row by
              row (the default, in the form that suits the device), by
              anti-diagonal wavefront or by block-Jacobi sweeps, with C^-1
              applied through its factors.

  Two parametrisations of C:

  * `centre='lu'` (default): C = P L (U + diag(sign * exp(log_s))), a random
    rotation at initialisation, as Glow's 1 x 1 convolution; one CInC layer
    contains the 1 x 1 convolution as the case of zero off-centre taps.
    log|det C| = sum(log_s).
  * `centre='triangular'` (the paper's App. B and reference code): C masked
    to an upper triangle with diagonal exp(log_s) (learned) or 1
    (`diagonal='unit'`, volume preserving). log|det C| = sum_c log|C_cc|.

  `corner='bottom_right'` is the mirror image: the same layer applied to the
  image rotated by 180 degrees with its channels reversed, so its receptive
  field looks down and right; alternating corners across steps sees every
  direction.

  #### Example

  ```python
  conv = CInCConv2D(12)                      # k = 3, LU centre
  y = conv.forward(x)                        # x: [batch, H, W, 12]
  x_again = conv.inverse(y)                  # H row steps
  ```

  Growth bound: forward |y| <= |K|_1 |x| (max-norms; |K|_1 the largest sum
  of |taps| into one output channel). The centre's diagonal has
  |log s| <= 10, so the log-det is bounded and no solve divides by 0. The
  inverse is a triangular solve over H + W - 1 anti-diagonals:
  |x| <= |C^-1|_1 (1 + |C^-1|_1 |K|_1)^(H + W - 1) |y|, finite for finite
  weights but geometric in the image size when the taps are large next to
  the centre.

  References:
    Nagar, Dufraisse, Varma (2021). CInC Flow: Characterizable Invertible
    3x3 Convolution. https://arxiv.org/abs/2107.01358
  """

  def __init__(self, channels, kernel_size=3, centre='lu', corner='top_left',
               diagonal='learned', solver='auto', tolerance=1e-6,
               kernel_stddev=0.02, dtype=tf.float32, validate_args=False,
               name='cinc_conv2d'):
    """Creates the layer.

    Args:
      channels: number of input (= output) channels C.
      kernel_size: k >= 1 (the paper uses odd k, 3 by default).
      centre: 'lu' (full invertible centre tap, random rotation at start) or
        'triangular' (the paper's masked centre).
      corner: 'top_left' (the paper) or 'bottom_right' (mirrored).
      diagonal: of the triangular centre: 'learned' (exp(log_s)) or 'unit'
        (volume preserving).
      solver: 'auto' (by the device the tensors live on: 'row_conv' on
        CPU, 'rows' on GPU and TPU), 'rows' (H steps of one matrix product
        each: fewest ops a step), 'row_conv' (H steps, the rows above
        through a 1 x k convolution: fewest multiply-adds), 'wavefront'
        (H + W - 1 steps; memory independent of the row width) or 'jacobi'
        (block-Jacobi with early exit at `tolerance`). Speeds:
        benchmarks/results/inverse.md.
      tolerance: stopping tolerance of the block-Jacobi solver.
      kernel_stddev: std of the random initial off-centre taps.
      dtype: float32 or float64.
      validate_args: check inputs for NaN/Inf.
      name: name of the bijector and its weights.
    """
    parameters = dict(locals())
    base.check_positive_int(channels=channels, kernel_size=kernel_size)
    self._channels = c = int(channels)
    self._kernel_size = k = int(kernel_size)
    self._centre = _choice('centre', centre, CENTRES)
    self._corner = _choice('corner', corner, CORNERS)
    self._diagonal = _choice('diagonal', diagonal, DIAGONALS)
    if centre == 'lu' and diagonal != 'learned':
      raise ValueError("diagonal='unit' needs centre='triangular'.")
    self._solver = _choice('solver', solver, solvers.METHODS)
    self._tolerance = tolerance
    self._free = _free_taps(k, c, centre)
    layer = base.parameter_layer(name, dtype)
    initial = base.random_normal([k, k, c, c], kernel_stddev, dtype)
    self._kernel = base.assign_weight(layer, 'kernel', [k, k, c, c],
                                      value=initial * self._free,
                                      trainable=bool(self._free.any()))
    if centre == 'lu':
      self._centre_lu = LUMatrix(layer, c)
    else:
      self._log_diag = base.assign_weight(
          layer, 'log_diag', [c], trainable=diagonal == 'learned')
    super().__init__(event_shape_in=[None, None, c], layers=[layer],
                     is_constant_jacobian=True, dtype=dtype, validate_args=validate_args,
                     parameters=parameters, name=name)

  @property
  def kernel_size(self):
    return self._kernel_size

  @property
  def centre(self):
    return self._centre

  def _centre_tap(self):
    """C = K[k-1, k-1] as a [C, C] tensor."""
    if self._centre == 'lu':
      return self._centre_lu.matrix()
    masked = self._kernel[-1, -1] * tf.constant(self._free[-1, -1],
                                                self.dtype)
    return masked + tf.linalg.diag(self._triangular_diagonal())

  def _triangular_diagonal(self):
    if self._diagonal == 'unit':
      return tf.ones([self._channels], self.dtype)
    return tf.exp(self._bounded_log_diag())

  def _bounded_log_diag(self):
    return base.bounded_log_scale(self._log_diag)

  def _centre_inverse(self):
    if self._centre == 'lu':
      return self._centre_lu.inverse()
    return tf.linalg.triangular_solve(
        self._centre_tap(), tf.eye(self._channels, dtype=self.dtype),
        lower=False)

  def _per_pixel_log_det(self):
    if self._centre == 'lu':
      return self._centre_lu.log_abs_det()
    if self._diagonal == 'unit':
      return tf.zeros([], self.dtype)
    return tf.reduce_sum(self._bounded_log_diag())

  def effective_kernel(self):
    """[k, k, C, C] kernel of the top-left convolution actually applied."""
    k = self._kernel_size
    off_centre = self._kernel * tf.constant(self._free, self.dtype)
    off_centre = solvers.without_centre(off_centre)
    return off_centre + tf.pad(self._centre_tap()[None, None],
                               [[k - 1, 0], [k - 1, 0], [0, 0], [0, 0]])

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
    centre_inverse = self._centre_inverse()
    solve = lambda t: solvers.solve(t, kernel, centre_inverse, self._solver,
                                    self._tolerance)
    x = self._mirrored(solve, y)
    return x, -base.constant_log_det(y, self._per_pixel_log_det())
