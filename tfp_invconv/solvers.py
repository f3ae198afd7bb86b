"""Exact parallel solves of triangular ("top/left-causal") convolutions.

A *top-left convolution* pads the image with k-1 rows on top and k-1 columns
on the left, then convolves VALID, so output pixel (i, j) reads inputs
(i', j') with i-k+1 <= i' <= i and j-k+1 <= j' <= j:

    y(i, j) = x(i, j) @ C + sum_{(a, b) != (k-1, k-1)} x(i-k+1+a, j-k+1+b) @ K[a, b]

with the centre tap C = K[k-1, k-1] an invertible (triangular) C x C matrix.
Every off-centre tap reads a pixel with a strictly smaller i + j, which gives
two exact solvers that work on whole tensors, not pixel by pixel:

* `wavefront_solve`: the pixels of one anti-diagonal i + j = d depend only on
  anti-diagonals < d. Skewing the image (row i shifted right by i, as in the
  diagonal PixelRNN) turns anti-diagonals into columns, so H + W - 1
  sequential steps each solve one column: a small convolution over the last
  2k - 2 solved columns, a subtraction and a multiplication by C^-1.
* `block_jacobi_solve`: x <- (y - conv_offcentre(x)) @ C^-1. The off-centre
  operator is nilpotent (it strictly lowers i + j), so the iteration is exact
  after at most H + W - 1 sweeps; it stops early once an update changes no
  entry by more than `tolerance`.

All shapes are NHWC with a static H, W, C; kernels are [k, k, C, C].
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


def skew(x):
  """[B, H, W, C] -> [B, H, H + W - 1, C] with row i shifted right by i.

  Column d of the result holds the anti-diagonal i + j = d of x (zeros
  elsewhere).
  """
  _, h, w, c = x.shape
  padded = tf.pad(x, [[0, 0], [0, 0], [0, h], [0, 0]])
  flat = tf.reshape(padded, [-1, h * (w + h), c])[:, :h * (w + h - 1)]
  return tf.reshape(flat, [-1, h, w + h - 1, c])


def unskew(x_skewed, width):
  """Inverse of `skew`: [B, H, H + W - 1, C] -> [B, H, W, C]."""
  _, h, _, c = x_skewed.shape
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

  Args:
    y: [B, H, W, C] tensor.
    kernel: [k, k, C, C] kernel whose centre tap has inverse
      `centre_inverse`.
    centre_inverse: [C, C] inverse of kernel[k-1, k-1].

  Returns:
    x with conv_top_left(x, kernel) == y up to round-off.
  """
  _, height, width, channels = y.shape
  k = kernel.shape[0]
  if k == 1:
    return apply_channel_matrix(y, centre_inverse)
  window = 2 * k - 2
  skewed_kernel = _skewed_kernel(without_centre(kernel))
  valid = _valid_skewed_positions(height, width, y.dtype)[:, :, None]
  # Columns of the skewed right-hand side, as [H + W - 1, B, H, C].
  y_columns = tf.transpose(skew(y), [2, 0, 1, 3])
  num_columns = height + width - 1

  def step(d, recent, solved):
    padded = tf.pad(recent, [[0, 0], [k - 1, 0], [0, 0], [0, 0]])
    off_centre = tf.nn.conv2d(padded, skewed_kernel, 1, 'VALID')[:, :, 0]
    column = apply_channel_matrix(y_columns[d] - off_centre, centre_inverse)
    column = column * valid[:, d]
    recent = tf.concat([recent[:, :, 1:], column[:, :, None]], axis=2)
    return d + 1, recent, solved.write(d, column)

  batch = tf.shape(y)[0]
  recent = tf.zeros([batch, height, window, channels], y.dtype)
  solved = tf.TensorArray(y.dtype, size=num_columns,
                          element_shape=[None, height, channels])
  _, _, solved = tf.while_loop(
      lambda d, *_: d < num_columns, step, (tf.constant(0), recent, solved))
  return unskew(tf.transpose(solved.stack(), [1, 2, 0, 3]), width)


def block_jacobi_solve(y, kernel, centre_inverse, tolerance=0.0,
                       max_iterations=None):
  """Solves conv_top_left(x, kernel) = y by block-Jacobi sweeps.

  Exact after H + W - 1 sweeps (the default cap); with `tolerance > 0` it
  stops as soon as no entry moves by more than `tolerance`.
  """
  _, height, width, _ = y.shape
  if max_iterations is None:
    max_iterations = height + width - 1
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
