"""Exact parallel solves of triangular ("top/left-causal") convolutions.

A *top-left convolution* pads the image with k-1 rows on top and k-1 columns
on the left, then convolves VALID, so output pixel (i, j) reads inputs
(i', j') with i-k+1 <= i' <= i and j-k+1 <= j' <= j:

    y(i, j) = x(i, j) @ C + sum_{(a, b) != (k-1, k-1)} x(i-k+1+a, j-k+1+b) @ K[a, b]

with the centre tap C = K[k-1, k-1] an invertible C x C matrix. Every
off-centre tap reads a pixel above or to the left, which gives three exact
solvers that work on whole tensors, not pixel by pixel:

* `row_solve` (the layers' default): one image row per step, H steps. Each
  row's own (block upper triangular) operator is inverted once per call
  with one triangular solve and C^-1, so a step is one matrix product and
  one sum (four tensor ops with its read and write). The row operators are
  dense (W*C)^2 matrices.
* `wavefront_solve`: the pixels of one anti-diagonal i + j = d depend only on
  anti-diagonals < d. Skewing the image (row i shifted right by i, as in the
  diagonal PixelRNN) turns anti-diagonals into columns, so H + W - 1
  sequential steps each solve one column: with C^-1 folded into the taps
  once, a small convolution over the last 2k - 2 solved columns, a sum and
  a mask (six tensor ops). Its memory does not grow with the row width.
* `block_jacobi_solve`: x <- (y - conv_offcentre(x)) @ C^-1. The off-centre
  operator is nilpotent (it strictly lowers i + j), so the iteration is exact
  after at most H + W - 1 sweeps; it stops early once an update changes no
  entry by more than `tolerance`.

All shapes are NHWC; kernels are [k, k, C, C]. Every solver takes images
whose batch, height and width are known only when run. C^-1 comes from the caller,
who owns the centre's factors (an LU or triangular matrix).
"""

import tensorflow as tf


def conv_top_left(x, kernel):
  """Pads k-1 rows on top and k-1 columns on the left, then a VALID conv."""
  k = kernel.shape[0]
  padded = tf.pad(x, [[0, 0], [k - 1, 0], [k - 1, 0], [0, 0]])
  return tf.nn.conv2d(padded, kernel, strides=1, padding='VALID')


def without_centre(kernel):
  """The kernel with its centre tap K[k-1, k-1] set to zero."""
  k = kernel.shape[0]
  mask = tf.tensor_scatter_nd_update(
      tf.ones([k, k], kernel.dtype), [[k - 1, k - 1]],
      tf.zeros([1], kernel.dtype))
  return kernel * mask[:, :, None, None]


def apply_channel_matrix(x, matrix):
  """x @ matrix over the channel axis of an NHWC (or N...C) tensor."""
  return tf.tensordot(x, matrix, axes=[[x.shape.rank - 1], [0]])


def _dims(x):
  """x's dimensions: Python ints where the static shape knows them, scalar
  tensors where it does not (unknown batch or image size)."""
  dynamic = tf.shape(x)
  return [d if d is not None else dynamic[i] for i, d in enumerate(x.shape)]


def skew(x):
  """[B, H, W, C] -> [B, H, H + W - 1, C] with row i shifted right by i.

  Column d of the result holds the anti-diagonal i + j = d of x (zeros
  elsewhere).
  """
  _, h, w, c = _dims(x)
  padded = tf.pad(x, [[0, 0], [0, 0], [0, h], [0, 0]])
  flat = tf.reshape(padded, [-1, h * (w + h), c])[:, :h * (w + h - 1)]
  return tf.reshape(flat, [-1, h, w + h - 1, c])


def unskew(x_skewed, width):
  """Inverse of `skew`: [B, H, H + W - 1, C] -> [B, H, W, C]."""
  _, h, _, c = _dims(x_skewed)
  flat = tf.reshape(x_skewed, [-1, h * (width + h - 1), c])
  flat = tf.pad(flat, [[0, 0], [0, h], [0, 0]])
  return tf.reshape(flat, [-1, h, width + h, c])[:, :, :width]


def _skewed_kernel(kernel):
  """Maps tap (a, b) to (a, a + b): the kernel acting on skewed images.

  In skewed coordinates tap (a, b) reads row i-k+1+a, column d-(2k-2)+(a+b);
  the last column a + b = 2k - 2 is the centre tap and is dropped.
  """
  k = kernel.shape[0]
  rows = [tf.pad(kernel[a], [[a, k - 1 - a], [0, 0], [0, 0]])
          for a in range(k)]
  return tf.stack(rows)[:, :2 * k - 2]


def _valid_skewed_positions(height, width, dtype):
  """[H, H+W-1] mask of the skewed positions that hold an image pixel."""
  rows = tf.range(height)[:, None]
  cols = tf.range(height + width - 1)[None, :]
  return tf.cast((cols >= rows) & (cols < rows + width), dtype)


def wavefront_solve(y, kernel, centre_inverse):
  """Solves conv_top_left(x, kernel) = y for x, one anti-diagonal per step.

  C^-1 is folded into the taps and the right-hand side once per call
  (K~ = K C^-1, y~ = y C^-1), so each of the H + W - 1 sequential steps is
  one small convolution of a state holding the last 2k - 2 solved columns
  (which also shifts them: no window is concatenated), a sum with the
  column of y~ and the mask of the skewed image's pixels: six tensor ops
  with the two reads and the write. The mask is what keeps it from four:
  the taps of a pixel by the image's edge read skewed positions that are
  padding, which must stay zero.

  Args:
    y: [B, H, W, C] tensor.
    kernel: [k, k, C, C] kernel whose centre tap has inverse
      `centre_inverse`.
    centre_inverse: [C, C] inverse of kernel[k-1, k-1].

  Returns:
    x with conv_top_left(x, kernel) == y up to round-off.
  """
  _, height, width, channels = _dims(y)
  k = kernel.shape[0]
  if k == 1:
    return apply_channel_matrix(y, centre_inverse)
  window = 2 * k - 2
  state_size = window * channels
  # The state holds the last 2k - 2 solved columns side by side in its
  # channels, [B, H, 1, (2k - 2) C]. One convolution shifts them one column
  # left (its bottom tap row) and computes -K~ * window for the new column.
  folded_kernel = tf.reshape(
      _skewed_kernel(without_centre(kernel)) @ centre_inverse,
      [k, 1, state_size, channels])
  shift = tf.pad(tf.eye(state_size, dtype=y.dtype)[None, None, :, channels:],
                 [[k - 1, 0], [0, 0], [0, 0], [0, 0]])
  step_kernel = tf.concat([shift, -folded_kernel], axis=-1)
  # Per column: the skewed, folded right-hand side in the last block, and
  # the mask that keeps the skewed image's padding at zero.
  num_columns = height + width - 1
  last_block = [[0, 0], [0, 0], [0, 0], [0, 0], [state_size - channels, 0]]
  y_columns = tf.pad(tf.transpose(
      skew(apply_channel_matrix(y, centre_inverse)),
      [2, 0, 1, 3])[:, :, :, None], last_block)
  valid = tf.transpose(_valid_skewed_positions(height, width, y.dtype))
  masks = tf.pad(tf.tile(valid[:, None, :, None, None], [1, 1, 1, 1, channels]),
                 last_block, constant_values=1.)
  y_columns, masks = [
      tf.TensorArray(y.dtype, size=num_columns,
                     element_shape=[None, y.shape[1], 1, state_size]
                     ).unstack(t) for t in (y_columns, masks)]
  above = [[0, 0], [k - 1, 0], [0, 0], [0, 0]]

  def step(d, state, states):
    state = (tf.nn.conv2d(state, step_kernel, 1, above) + y_columns.read(d)
             ) * masks.read(d)
    return d + 1, state, states.write(d, state)

  batch = tf.shape(y)[0]
  states = tf.TensorArray(y.dtype, size=num_columns,
                          element_shape=[None, y.shape[1], 1, state_size])
  _, _, states = tf.while_loop(
      lambda d, *_: d < num_columns, step,
      (tf.constant(0), tf.zeros([batch, height, 1, state_size], y.dtype),
       states))
  columns = states.stack()[:, :, :, 0, state_size - channels:]
  return unskew(tf.transpose(columns, [1, 2, 0, 3]), width)


def _row_operator(taps, width):
  """The [W*C, W*C] matrix R of one kernel row acting along a flattened
  image row (x_row @ R): tap b reads column j - (k-1) + b, zero padded on
  the left.

  Args:
    taps: [k, C, C], the kernel row K[a].
    width: W, a Python int or a scalar tensor.
  """
  k = taps.shape[0]
  channels = taps.shape[-1]
  columns = tf.range(width)
  offsets = tf.range(k - 1, -1, -1)  # tap b reads k - 1 - b columns back
  shifts = tf.cast(columns[None, :, None] ==
                   columns[None, None, :] - offsets[:, None, None],
                   taps.dtype)
  operator = tf.einsum('bpq,bcd->pcqd', shifts, taps)
  return tf.reshape(operator, [width * channels, width * channels])


def row_solve(y, kernel, centre_inverse):
  """Solves conv_top_left(x, kernel) = y for x, one image row per step.

  Row i of y is x_i @ T plus the rows above: y_i = x_i T + sum_a x_{i-k+1+a}
  R_a, with T and R_a the [W*C, W*C] operators of the kernel's last and
  earlier rows. T is block upper triangular with C on its diagonal blocks,
  so T = (I (x) C) T'' with T'' unit upper triangular: T^-1 = T''^-1 (I (x)
  C^-1) takes one triangular solve and C^-1. Folding it in once per call
  (y~ = y T^-1, M = [R_0; ...; R_{k-2}] T^-1) leaves H sequential steps,
  x_i = y~_i - [x_{i-k+1}, ..., x_{i-1}] M, each one matrix product and one
  sum on a state of the last k - 1 rows (its matrix also shifts the rows, so
  a step reads and writes no window: four tensor ops in all).

  Fastest where the loop's per-step latency dominates (CPU and GPU at
  CIFAR/ImageNet level shapes); its dense row operators grow as (W*C)^2,
  so for very wide rows use `wavefront_solve`.

  Args:
    y: [B, H, W, C] tensor (C static; B, H, W may be unknown until run).
    kernel: [k, k, C, C] kernel whose centre tap has inverse
      `centre_inverse`.
    centre_inverse: [C, C] inverse of kernel[k-1, k-1].

  Returns:
    x with conv_top_left(x, kernel) == y up to round-off.
  """
  channels = y.shape[-1]
  shape = tf.shape(y)
  batch, height, width = shape[0], shape[1], shape[2]
  k = kernel.shape[0]
  if k == 1:
    return apply_channel_matrix(y, centre_inverse)
  row_size = width * channels
  # T'' has blocks C^-1 K[k-1, b] and exact identities on its diagonal.
  own_taps = tf.concat([centre_inverse @ kernel[k - 1, :k - 1],
                        tf.eye(channels, dtype=y.dtype)[None]], axis=0)
  unit_upper = _row_operator(own_taps, width)
  identity = tf.eye(row_size, dtype=y.dtype)
  row_inverse = tf.reshape(
      apply_channel_matrix(tf.reshape(
          tf.linalg.triangular_solve(unit_upper, identity, lower=False),
          [row_size, width, channels]), centre_inverse),
      [row_size, row_size])
  above = tf.concat([_row_operator(kernel[a], width) for a in range(k - 1)],
                    axis=0) @ row_inverse
  # The state s_i = [x_{i-k+2}, ..., x_i] ([B, (k-1) W C]) follows
  # s_i = s_{i-1} A + [0, ..., 0, y~_i]: A shifts the rows one block left
  # and appends -[x_{i-k+1}, ..., x_{i-1}] M. One product and one sum a
  # step, no concatenation.
  state_size = (k - 1) * row_size
  step_matrix = tf.concat([tf.eye(state_size, dtype=y.dtype)[:, row_size:],
                           -above], axis=1)
  # Rows of the folded right-hand side in the state's last block.
  y_rows = tf.pad(tf.transpose(tf.reshape(y, [batch, height, row_size]),
                               [1, 0, 2]) @ row_inverse,
                  [[0, 0], [0, 0], [state_size - row_size, 0]])
  y_rows = tf.TensorArray(y.dtype, size=height,
                          element_shape=[None, None]).unstack(y_rows)

  def step(i, state, states):
    state = state @ step_matrix + y_rows.read(i)
    return i + 1, state, states.write(i, state)

  states = tf.TensorArray(y.dtype, size=height, element_shape=[None, None])
  _, _, states = tf.while_loop(
      lambda i, *_: i < height, step,
      (tf.constant(0), tf.zeros([batch, state_size], y.dtype), states))
  rows = states.stack()[:, :, state_size - row_size:]
  x = tf.reshape(tf.transpose(rows, [1, 0, 2]),
                 [batch, height, width, channels])
  return tf.ensure_shape(x, y.shape)


def block_jacobi_solve(y, kernel, centre_inverse, tolerance=0.0,
                       max_iterations=None):
  """Solves conv_top_left(x, kernel) = y by block-Jacobi sweeps.

  Exact after H + W - 1 sweeps (the default cap); with `tolerance > 0` it
  stops as soon as no entry moves by more than `tolerance`.
  """
  if max_iterations is None:
    shape = tf.shape(y)
    max_iterations = shape[1] + shape[2] - 1
  off_centre_kernel = without_centre(kernel)

  def sweep(x):
    return apply_channel_matrix(y - conv_top_left(x, off_centre_kernel),
                                centre_inverse)

  def cond(i, x, change):
    return (i < max_iterations) & (change > tolerance)

  def body(i, x, change):
    x_new = sweep(x)
    return i + 1, x_new, tf.reduce_max(tf.abs(x_new - x))

  x0 = apply_channel_matrix(y, centre_inverse)
  inf = tf.constant(float('inf'), y.dtype)
  _, x, _ = tf.while_loop(cond, body, (tf.constant(1), x0, inf))
  return x
