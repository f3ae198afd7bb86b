"""Exact parallel solves of triangular ("top/left-causal") convolutions.

A *top-left convolution* pads the image with k-1 rows on top and k-1 columns
on the left, then convolves VALID, so output pixel (i, j) reads inputs
(i', j') with i-k+1 <= i' <= i and j-k+1 <= j' <= j:

    y(i, j) = x(i, j) @ C + sum_{(a, b) != (k-1, k-1)} x(i-k+1+a, j-k+1+b) @ K[a, b]

with the centre tap C = K[k-1, k-1] an invertible C x C matrix. Every
off-centre tap reads a pixel above or to the left, which gives three exact
solvers that work on whole tensors, not pixel by pixel:

* `row_solve`: one image row per step, H steps. Each row's own (block
  upper triangular) operator is inverted once per call with one triangular
  solve and C^-1, so a step is one matrix product and one sum (four tensor
  ops with its read and write). The row operators are dense (W*C)^2
  matrices. The accelerator form: fewest ops a step.
* `row_conv_solve`: the same rows, with the rows above taken through a
  1 x k convolution and only the row's own inverse dense: the fewest
  multiply-adds, the CPU form.
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

`solve(..., method='auto')` picks `row_conv_solve` on CPU and `row_solve`
on GPU and TPU, from the device the right-hand side lives on.

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
  """x @ matrix over the channel axis of an NHWC (or N...C) tensor (one
  matmul between reshapes: as fast as tf.tensordot, and a third of its ops
  to trace)."""
  product = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), matrix)
  return tf.reshape(product, [-1] + _dims(x)[1:-1] + [matrix.shape[-1]])


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


def _row_inverse(kernel, centre_inverse, width):
  """T^-1, the [W*C, W*C] inverse of an image row's own operator T (the
  kernel's last row acting along the row, x_row @ T).

  T is block upper triangular and block Toeplitz, T = (I (x) C) T'' with
  T'' unit upper triangular (blocks C^-1 K[k-1, b]). Its inverse is block
  Toeplitz too, T''^-1 = [G_{q-p}] for q >= p, so one triangular solve for
  the first block row (C right-hand sides, not W*C) gives every block; C^-1
  folds into them before they are laid out.
  """
  k = kernel.shape[0]
  channels = kernel.shape[-1]
  row_size = width * channels
  own_taps = tf.concat([centre_inverse @ kernel[k - 1, :k - 1],
                        tf.eye(channels, dtype=kernel.dtype)[None]], axis=0)
  unit_upper = _row_operator(own_taps, width)
  # The first block row [G_0, ..., G_{W-1}] solves g T'' = [I, 0, ..., 0].
  first_row = tf.transpose(tf.linalg.triangular_solve(
      unit_upper, tf.eye(row_size, channels, dtype=kernel.dtype),
      lower=False, adjoint=True))
  blocks = tf.transpose(tf.reshape(first_row, [channels, width, channels]),
                        [1, 0, 2]) @ centre_inverse
  blocks = tf.concat([blocks, tf.zeros([1, channels, channels],
                                       kernel.dtype)], axis=0)
  columns = tf.range(width)
  offsets = columns[None, :] - columns[:, None]
  layout = tf.gather(blocks, tf.where(offsets >= 0, offsets, width))
  return tf.reshape(tf.transpose(layout, [0, 2, 1, 3]), [row_size, row_size])


def row_solve(y, kernel, centre_inverse):
  """Solves conv_top_left(x, kernel) = y for x, one image row per step.

  Row i of y is x_i @ T plus the rows above: y_i = x_i T + sum_a x_{i-k+1+a}
  R_a, with T and R_a the [W*C, W*C] operators of the kernel's last and
  earlier rows. Folding T^-1 (`_row_inverse`) in once per call (y~ = y
  T^-1, M = [R_0; ...; R_{k-2}] T^-1) leaves H sequential steps, x_i = y~_i
  - [x_{i-k+1}, ..., x_{i-1}] M, each one matrix product and one sum on a
  state of the last k - 1 rows (its matrix also shifts the rows, so a step
  reads and writes no window: four tensor ops in all).

  The accelerator form (`solve(..., 'auto')` picks it on GPU and TPU): a
  step's latency, not its arithmetic, is what costs there. Its dense
  matrices do (k - 1) W C more multiply-adds per pixel than the
  convolution; on CPU `row_conv_solve` does fewer.

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
  row_inverse = _row_inverse(kernel, centre_inverse, width)
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


def row_conv_solve(y, kernel, centre_inverse):
  """Solves conv_top_left(x, kernel) = y for x, one image row per step,
  with the fewest multiply-adds (the CPU form).

  Step i takes the k - 1 rows above through the kernel's first k - 1 rows
  as one convolution (the rows stacked along the height, which the solved
  rows are laid out in already: (k - 1) k C^2 multiply-adds a pixel, as the
  forward convolution spends on them) and applies the row's own inverse
  T^-1 (`_row_inverse`) to what is left:

    x_i = (y_i - sum_a conv_left(x_{i-k+1+a}, K[a])) T^-1

  T^-1 is a dense [W*C, W*C] matrix, so a step costs W C^2 more per pixel
  than the forward convolution's taps on its own row; it is what replaces a
  W-step sequential solve along the row. With the image height known when
  traced, the H steps are unrolled (no loop to run, and the first rows take
  only the rows they have above); otherwise they run in a `tf.while_loop`.

  Args and result: as `row_solve`'s.
  """
  k = kernel.shape[0]
  if k == 1:
    return apply_channel_matrix(y, centre_inverse)
  batch, height, width, channels = _dims(y)
  row_size = width * channels
  row_inverse = _row_inverse(kernel, centre_inverse, width)
  left = [[0, 0], [0, 0], [k - 1, 0], [0, 0]]

  def solve_row(y_row, rows_above):
    """x_i from y_i ([B, 1, W, C]) and the rows above it ([B, a, W, C],
    a <= k - 1, the nearest last)."""
    if rows_above is not None:
      above_taps = kernel[k - 1 - rows_above.shape[1]:k - 1]
      y_row -= tf.nn.conv2d(rows_above, above_taps, 1, left)
    x_row = tf.reshape(y_row, [-1, row_size]) @ row_inverse
    return tf.reshape(x_row, [-1, 1, width, channels])

  if isinstance(height, int):
    solved = []
    for y_row in tf.split(y, height, axis=1):
      above = solved[-(k - 1):]
      solved.append(solve_row(y_row, tf.concat(above, 1) if above else None))
    return tf.concat(solved, axis=1)

  def step(i, window, solved):
    x_row = solve_row(y[:, i:i + 1], window)
    window = tf.concat([window[:, 1:], x_row], 1)
    return i + 1, window, solved.write(i, x_row[:, 0])

  window = tf.zeros([batch, k - 1, width, channels], y.dtype)
  solved = tf.TensorArray(y.dtype, size=height,
                          element_shape=[None, None, channels])
  _, _, solved = tf.while_loop(lambda i, *_: i < height, step,
                               (tf.constant(0), window, solved))
  x = tf.transpose(solved.stack(), [1, 0, 2, 3])
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


METHODS = ('auto', 'rows', 'row_conv', 'wavefront', 'jacobi')


def device_type(tensor):
  """'CPU', 'GPU' or 'TPU': where `tensor` lives or, for a symbolic tensor
  that no device scope placed, where TensorFlow will put it."""
  placed = tf.DeviceSpec.from_string(tensor.device or '').device_type
  if placed:
    return placed
  for kind in ('TPU', 'GPU'):
    if tf.config.list_logical_devices(kind):
      return kind
  return 'CPU'


def solve(y, kernel, centre_inverse, method='auto', tolerance=0.0):
  """Solves conv_top_left(x, kernel) = y with one of `METHODS`.

  'auto' picks by the device `y` lives on: `row_conv_solve` (fewest
  multiply-adds) on CPU, `row_solve` (four ops a step) on GPU and TPU.
  `tolerance` is block-Jacobi's early exit.
  """
  if method == 'auto':
    method = 'row_conv' if device_type(y) == 'CPU' else 'rows'
  if method == 'jacobi':
    return block_jacobi_solve(y, kernel, centre_inverse, tolerance=tolerance)
  solvers = {'rows': row_solve, 'row_conv': row_conv_solve,
             'wavefront': wavefront_solve}
  if method not in solvers:
    raise ValueError(f'method must be one of {METHODS}, got {method!r}.')
  return solvers[method](y, kernel, centre_inverse)
