"""Pixel-adaptive, locally masked invertible convolution (PAC flows)."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_invconv import solvers
from tfp_invconv.bijectors import base

tfb = tfp.bijectors

ORDERS = ('raster', 's-curve')
SOLVERS = ('rows', 'jacobi')

def tap_masks(kernel_size, channels, order):
  """(upper, lower) 0/1 masks [2, K*K, C, C], by row parity (they differ
  only in s-curve order, whose odd rows run right to left)."""
  r = kernel_size // 2
  upper = np.zeros([2, kernel_size ** 2, channels, channels])
  below_diagonal = np.tril(np.ones([channels, channels]), -1)
  for parity in (0, 1):
    leftward = order == 's-curve' and parity == 1
    for a in range(kernel_size):
      for b in range(kernel_size):
        du, dv = a - r, b - r
        later = du > 0 or (du == 0 and (dv < 0 if leftward else dv > 0))
        tap = a * kernel_size + b
        if later:
          upper[parity, tap] = 1.
        elif du == dv == 0:
          upper[parity, tap] = 1. - below_diagonal  # i <= o
  return upper, 1. - upper


def shifted(t, du, dv):
  """The neighbour at (du, dv) of every pixel of t ([B, H, W, D], zero
  outside the image, also when the offset exceeds it). A pad and a slice:
  their gradients are a slice and a pad (a strided slice's gradient writes
  into a zero tensor, many times slower on CPU)."""
  if du == dv == 0:
    return t
  height, width = t.shape[1], t.shape[2]
  if height is None or width is None:
    height, width = tf.shape(t)[1], tf.shape(t)[2]
  paddings = [[0, 0], [max(-du, 0), max(du, 0)], [max(-dv, 0), max(dv, 0)],
              [0, 0]]
  return tf.slice(tf.pad(t, paddings), [0, max(du, 0), max(dv, 0), 0],
                  [-1, height, width, -1])


class PixelAdaptiveConv(base.UnbatchedParameters, tfb.Bijector):
  """z = L U x + b, a pixel-adaptive masked convolution (see module doc).

  Cooper & Tomczak's PAC layer weights a learned filter W (K x K x C x C, K
  odd) by a kernel that differs at every pixel, computed from conditioner
  features f (H x W x F):

    k_{hw,o,uv} = s_{hwo} * exp(-||f_hw - Psi(f)_{hw,uv}||^2 / (2 l_{hwo}))

  where Psi takes the K x K neighbourhood (zero padded) and s = sigma^2, l are
  per pixel and channel. An order O over the pixels (raster, or s-curve:
  raster with every other row reversed) splits the taps:

    Upper-PAC   (U x)_{hw,o} = sum_{uv,i} Psi(x)_{hw,uv,i} k_{hw,o,uv} W_{uv,i,o}
                over neighbours uv later in O, plus the centre's i <= o;
    Lower-PAC   (L y) = y + the same sum over the earlier neighbours, plus the
                centre's i > o (strictly lower, unit diagonal).

    Forward:  z = L U x + b
    Log-det:  sum_{hwo} log|diag U| = sum_{hwo} (log s_{hwo} + log w_o),
              diag U = k_{hw,o,centre} W_{centre,o,o} = s_{hwo} exp(log w_o)
              (W's centre diagonal is exp(log w), so it is never 0)
    Inverse:  solve L y = z - b, then U x = y, exactly:
              'rows' (default): one image row per step, in the order's
                direction; each step is one batched triangular solve of the
                row's own (W C x W C) system, whose off-row inputs are already
                solved. 2H steps per layer, exact to round-off.
              'jacobi': the paper's weighted Jacobi x <- x - diag(A)^-1 (Ax - b)
                until no entry changes by more than `tolerance` (exact after at
                most H W C sweeps: the error propagates through a nilpotent
                operator).

  `PixelAdaptiveConv` takes tensors (the conditioner's outputs), not weights:
  a coupling builds one per call. Without `features` the kernel is s alone:
  the masked emerging-style convolution with a per-pixel scale (the PAC
  paper's 'emerging' baseline).

  ```python
  pac = PixelAdaptiveConv(filters, log_diagonal, log_scale, features,
                          lengthscale, bias, order='s-curve')
  z = pac.forward(x)          # [B, H, W, C]
  x_back = pac.inverse(z)
  ```

  Reference: Cooper & Tomczak, "Pixel Adaptive Convolutions for Generative
  Modeling with Normalizing Flows" (PAC flows), §4 and App. B-C.

  Growth bound: forward |z| <= |L|_1 |U|_1 |x| + |b| (max-norms; the
  kernel factor is in (0, 1)); the inverse solves two triangular systems
  whose diagonals are 1 and s w (s >= 1e-2 and |log w| <= 3 in a
  `PACCoupling`), so it never divides by 0, and it grows with the taps
  relative to the diagonal like `CInCConv2D`'s.

  References:
    Cooper, Tomczak (2023). Pixel-adaptive convolutions in normalizing flows
    (PAC flows).
    Su, Jampani, Sun, Gallo, Learned-Miller, Kautz (2019). Pixel-Adaptive
    Convolutional Neural Networks. https://arxiv.org/abs/1904.05373
  """

  def __init__(self, filters, log_diagonal, log_scale, features=None,
               lengthscale=None, bias=None, order='raster', solver='rows',
               tolerance=None, validate_args=False, name='pac'):
    """Args:
      filters: W, [K, K, C, C] (its centre diagonal is not used).
      log_diagonal: log w, [C]: W's centre diagonal is exp(log w).
      log_scale: log s, [B, H, W, C].
      features: f, [B, H, W, F], or None for a kernel of s alone.
      lengthscale: l > 0, [B, H, W, C] (with `features`).
      bias: b, [B, H, W, C] or None.
      order: 'raster' or 's-curve'.
      solver: 'rows' or 'jacobi' (see module doc).
      tolerance: Jacobi's stopping change (default 1e-6 in float32, 1e-12
        in float64).
    """
    parameters = dict(locals())
    if order not in ORDERS:
      raise ValueError(f'order must be one of {ORDERS}, got {order!r}.')
    if solver not in SOLVERS:
      raise ValueError(f'solver must be one of {SOLVERS}, got {solver!r}.')
    if (features is None) != (lengthscale is None):
      raise ValueError('features and lengthscale come together.')
    self._filters = tf.convert_to_tensor(filters)
    dtype = self._filters.dtype
    k, k2, channels, channels_out = self._filters.shape
    if k != k2 or k % 2 == 0 or channels != channels_out:
      raise ValueError(f'filters must be [K, K, C, C] with K odd; got '
                       f'{self._filters.shape}.')
    self._k, self._channels, self._order, self._solver = (
        k, channels, order, solver)
    as_tensor = lambda t: None if t is None else tf.convert_to_tensor(t, dtype)
    self._log_diagonal = as_tensor(log_diagonal)
    self._log_scale = as_tensor(log_scale)
    self._features = as_tensor(features)
    self._lengthscale = as_tensor(lengthscale)
    self._bias = as_tensor(bias)
    self._tolerance = tolerance or (1e-12 if dtype == tf.float64 else 1e-6)
    upper, lower = tap_masks(k, channels, order)
    centre = np.zeros([k * k, channels, channels])
    centre[k * k // 2] = np.eye(channels)
    self._masks = {'upper': tf.constant(upper, dtype),
                   'lower': tf.constant(lower, dtype)}
    self._used_taps = {'upper': upper != 0, 'lower': lower != 0}
    self._centre = tf.constant(centre, dtype)
    super().__init__(forward_min_event_ndims=3, is_constant_jacobian=True,
                     dtype=dtype, validate_args=validate_args,
                     parameters=parameters, name=name)

  # The operator ---------------------------------------------------------------

  def _offsets(self):
    """(du, dv) of every tap, in row-major tap order."""
    r = self._k // 2
    return [(a - r, b - r) for a in range(self._k) for b in range(self._k)]

  def _kernel(self):
    """k, one [B, H, W, C] map per tap."""
    if self._features is None:
      return [tf.exp(self._log_scale)] * self._k ** 2
    f = self._features
    scale = 2. * self._lengthscale
    return [tf.exp(self._log_scale - tf.reduce_sum(
        tf.square(f - shifted(f, du, dv)), axis=-1, keepdims=True) / scale)
            for du, dv in self._offsets()]

  def _masked_filters(self, triangle):
    """W with the triangle's mask (and exp(log w) on U's centre diagonal),
    [2, K*K, C, C]: one per row parity."""
    w = tf.reshape(self._filters, self._centre.shape) * (1. - self._centre)
    if triangle == 'upper':
      w += self._centre * tf.exp(self._log_diagonal)
    return self._masks[triangle] * w

  def _filters_by_row(self, triangle, height):
    """`_masked_filters` for each of `height` rows, [H, K*K, C, C]."""
    return tf.gather(self._masked_filters(triangle), tf.range(height) % 2)

  def masked_conv(self, x, kernel, triangle):
    """The pixel-adaptive masked convolution of one triangle ('upper' or
    'lower', without L's identity): sum_{uv,i} Psi(x) k W over its taps.

    One shifted channel product per tap it uses, weighted by that tap's
    kernel map (`kernel`, one [B, H, W, C] map per tap): no [B, H, W, K*K,
    C] patches tensor, and no work for the taps it masks.
    """
    used = self._used_taps[triangle]
    filters = self._masked_filters(triangle)
    odd_rows = tf.range(tf.shape(x)[1])[:, None, None] % 2 == 1
    terms = []
    for tap, (du, dv) in enumerate(self._offsets()):
      if not used[:, tap].any():
        continue
      neighbour = shifted(x, du, dv)
      product = solvers.apply_channel_matrix(neighbour, filters[0, tap])
      if (used[0, tap] != used[1, tap]).any():  # s-curve rows differ
        product = tf.where(odd_rows, solvers.apply_channel_matrix(
            neighbour, filters[1, tap]), product)
      terms.append(kernel[tap] * product)
    return tf.add_n(terms)

  def _forward(self, x):
    kernel = self._kernel()
    y = self.masked_conv(x, kernel, 'upper')
    z = y + self.masked_conv(y, kernel, 'lower')
    return z if self._bias is None else z + self._bias

  def _forward_log_det_jacobian(self, x):
    pixels = tf.cast(tf.shape(self._log_scale)[-3] *
                     tf.shape(self._log_scale)[-2], self.dtype)
    return (tf.reduce_sum(self._log_scale, axis=[-3, -2, -1])
            + pixels * tf.reduce_sum(self._log_diagonal))

  def _inverse_log_det_jacobian(self, z):
    return -self._forward_log_det_jacobian(z)

  def _inverse(self, z):
    return self.inverse_with_solve_info(z)[0]

  def inverse_with_solve_info(self, z):
    """(x, [L's solve, U's solve]): the inverse, and per triangular solve a
    dict with its `solver`, `triangle`, `steps` taken (rows, or Jacobi
    iterations) and, for Jacobi, `changes`, the max |x(t+1) - x(t)| of
    each iteration (tensors)."""
    y = z if self._bias is None else z - self._bias
    solve = (self._solve_rows if self._solver == 'rows'
             else self._solve_jacobi)
    kernel = self._kernel()
    w, lower = solve(y, kernel, 'lower')
    x, upper = solve(w, kernel, 'upper')
    return x, [lower, upper]

  # Solvers --------------------------------------------------------------------

  def _diagonal(self, triangle):
    if triangle == 'lower':
      return tf.ones([], self.dtype)
    return tf.exp(self._log_scale + self._log_diagonal)

  def _triangle(self, x, kernel, triangle):
    """A x for the triangle alone (U, or L including its identity)."""
    ax = self.masked_conv(x, kernel, triangle)
    return ax + x if triangle == 'lower' else ax

  def _solve_jacobi(self, b, kernel, triangle):
    diagonal = self._diagonal(triangle)
    shape = tf.shape(b)
    max_iterations = shape[1] * shape[2] * shape[3] + 1

    def step(i, x, change, changes):
      update = (self._triangle(x, kernel, triangle) - b) / diagonal
      change = tf.reduce_max(tf.abs(update))
      return i + 1, x - update, change, changes.write(i, change)

    changes = tf.TensorArray(b.dtype, size=0, dynamic_size=True)
    iterations, x, _, changes = tf.while_loop(
        lambda i, x, change, _: (i < max_iterations)
        & (change > self._tolerance),
        step, (tf.constant(0), b / diagonal,
               tf.constant(np.inf, b.dtype), changes))
    return x, dict(solver='jacobi', triangle=triangle, steps=iterations,
                   changes=changes.stack())

  def _row_systems(self, kernel, triangle, width, height):
    """Each row's own operator, [B, H, W*C, W*C], in the solve layout:
    channels reversed and, in the odd rows of s-curve order, columns
    reversed, so that it is lower triangular for U and upper for L
    (acting as x_row @ R). One gather places every row tap's coefficient
    k W (and L's unit diagonal) in its band."""
    k, r = self._k, self._k // 2
    filters = self._filters_by_row(triangle, height)[:, r * k:(r + 1) * k]
    row_kernel = tf.stack(kernel[r * k:(r + 1) * k], axis=3)
    taps = tf.einsum('bhwvo,hvio->bhwvio', row_kernel, filters)
    batch = tf.shape(taps)[0]
    zero_and_one = tf.tile(tf.constant([[0., 1.]], self.dtype), [batch, 1])
    values = tf.concat([tf.reshape(taps, [batch, -1]), zero_and_one], axis=1)
    index = self._row_system_index(triangle, width, height)
    c = self._channels
    return tf.reshape(tf.gather(values, index, axis=1),
                      [batch, height, width * c, width * c])

  def _row_system_index(self, triangle, width, height):
    """Where each entry of `_row_systems` comes from in the flattened taps
    [H, W (output column), K (tap), C (in), C (out)], followed by a 0 and
    a 1 (L's diagonal)."""
    k, r, c = self._k, self._k // 2, self._channels
    h, p, i, w, o = tf.meshgrid(tf.range(height), tf.range(width),
                                tf.range(c), tf.range(width), tf.range(c),
                                indexing='ij')
    i, o = c - 1 - i, c - 1 - o
    if self._order == 's-curve':
      odd = h % 2 == 1
      p = tf.where(odd, width - 1 - p, p)
      w = tf.where(odd, width - 1 - w, w)
    tap = p - w + r
    flat = (((h * width + w) * k + tap) * c + i) * c + o
    zero = height * width * k * c * c
    index = tf.where((tap >= 0) & (tap < k), flat, zero)
    if triangle == 'lower':
      index = tf.where((p == w) & (i == o), zero + 1, index)
    return tf.reshape(index, [-1])

  def _solve_rows(self, b, kernel, triangle):
    """Solves A x = b one image row per step (U bottom up, L top down)."""
    k, r, c = self._k, self._k // 2, self._channels
    shape = tf.shape(b)
    batch, height, width = shape[0], shape[1], shape[2]
    systems = self._row_systems(kernel, triangle, width, height)
    upper = triangle == 'upper'
    # The r rows of taps off the solved row: below it for U, above for L.
    tap_rows = slice((r + 1) * k, k * k) if upper else slice(0, r * k)
    off_filters = self._filters_by_row(triangle, 1)[0, tap_rows]
    off_kernel = tf.stack(kernel[tap_rows], axis=3)
    flip_odd_rows = self._order == 's-curve'

    def to_layout(row, h):
      row = tf.reverse(row, axis=[-1])
      if flip_odd_rows:
        row = tf.where(h % 2 == 1, tf.reverse(row, axis=[1]), row)
      return row

    def coupled_to_solved_rows(window, h):
      if not r:
        return tf.zeros([], b.dtype)
      near = tf.pad(tf.stack(window, axis=1), [[0, 0], [0, 0], [r, r], [0, 0]])
      near = tf.image.extract_patches(near, [1, r, k, 1], [1, 1, 1, 1],
                                      [1, 1, 1, 1], 'VALID')
      near = tf.reshape(near, [batch, width, r * k, c])
      return tf.reduce_sum(
          tf.gather(off_kernel, h, axis=1)
          * tf.einsum('bwti,tio->bwto', near, off_filters), axis=2)

    def step(i, window, solved):
      h = height - 1 - i if upper else i
      rhs = tf.gather(b, h, axis=1) - coupled_to_solved_rows(window, h)
      rhs = tf.reshape(to_layout(rhs, h), [batch, width * c, 1])
      x = tf.linalg.triangular_solve(tf.gather(systems, h, axis=1), rhs,
                                     lower=upper, adjoint=True)
      x = to_layout(tf.reshape(x, [batch, width, c]), h)  # its own inverse
      x.set_shape(row_shape)
      if r:
        window = (x,) + window[:-1] if upper else window[1:] + (x,)
      return i + 1, window, solved.write(h, x)

    row_shape = b.shape[:1].concatenate(b.shape[2:])
    zeros = tf.zeros([batch, width, c], b.dtype)
    zeros.set_shape(row_shape)
    solved = tf.TensorArray(b.dtype, size=height,
                            element_shape=[None, b.shape[2], c])
    _, _, solved = tf.while_loop(lambda i, *_: i < height, step,
                                 (tf.constant(0), (zeros,) * r, solved))
    return (tf.transpose(solved.stack(), [1, 0, 2, 3]),
            dict(solver='rows', triangle=triangle, steps=height))
