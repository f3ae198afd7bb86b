"""Couplings: a split, a conditioner per block and any TFP bijector.

The input's channels are cut into n blocks x_1..x_n (`ChannelSplit`, or for
n = 2 the two colours of a checkerboard, `CheckerboardSplit`). Block i > 1
goes through a bijector that `bijector_fn` builds from the output of a
conditioner network of the blocks before it (of the *inputs*, CInC eqs.
3-6). n = 2 is RealNVP/Glow's coupling; n = 4 the Quad-coupling of Nagar,
Dufraisse & Varma (2021), §3.2. Any `tfb.Bijector` serves: the affine map
(`AffineTransform`), a rational-quadratic spline (`SplineTransform`),
CONF's sub-layers, PAC's transformer, or a user's own.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_invconv import nets
from tfp_invconv.bijectors import base

tfb = tfp.bijectors

SCALES = ('tanh', 'sigmoid', 'exp')
# c of the soft clamp log s = c * tanh(r / c), chosen by measurement (README,
# "Finite by construction").
LOG_SCALE_BOUND = 2.

class ChannelSplit:
  """n blocks of C/n channels."""

  def __init__(self, num_blocks):
    self.num_blocks = num_blocks

  def block_channels(self, channels):
    return channels // self.num_blocks

  def check(self, channels, name):
    if self.num_blocks < 2 or channels % self.num_blocks:
      raise ValueError(
          f'{name}: a {self.num_blocks}-block coupling needs a channel count '
          f'divisible by {self.num_blocks} (and n >= 2); got {channels} '
          'channels.')

  def split(self, x):
    return tf.split(x, self.num_blocks, axis=-1)

  def merge(self, blocks):
    return tf.concat(blocks, axis=-1)


class CheckerboardSplit:
  """The pixels with h + w even, then those with h + w odd, each packed into
  an [H, W/2, C] image (row h keeps its order)."""

  num_blocks = 2

  def block_channels(self, channels):
    return channels

  def check(self, channels, name):
    del channels, name  # any channel count; the width is checked per call

  def _odd_rows(self, x):
    return tf.reshape(tf.range(tf.shape(x)[1]) % 2 == 1, [1, -1, 1, 1])

  def split(self, x):
    if x.shape[2] is not None and x.shape[2] % 2:
      raise ValueError(f'a checkerboard split needs an even image width, got '
                       f'{x.shape[2]}.')
    shape = tf.shape(x)
    pairs = tf.reshape(x, [shape[0], shape[1], shape[2] // 2, 2, x.shape[-1]])
    first, second = pairs[:, :, :, 0], pairs[:, :, :, 1]
    odd = self._odd_rows(x)
    return [tf.where(odd, second, first), tf.where(odd, first, second)]

  def merge(self, blocks):
    even, odd_colour = blocks
    odd = self._odd_rows(even)
    pairs = tf.stack([tf.where(odd, odd_colour, even),
                      tf.where(odd, even, odd_colour)], axis=3)
    shape = tf.shape(even)
    return tf.reshape(pairs, [shape[0], shape[1], 2 * shape[2],
                              even.shape[-1]])


SPLITS = ('channel', 'checkerboard')


def make_split(split, num_blocks):
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}.')
  if split == 'checkerboard':
    if num_blocks != 2:
      raise ValueError(f'a checkerboard split has 2 blocks, not {num_blocks}.')
    return CheckerboardSplit()
  return ChannelSplit(num_blocks)


class AffineTransform:
  """`bijector_fn` of the affine coupling: T(x) = (x + t) * s.

  The conditioner gives a shift t and a raw log-scale r per channel; the
  bijector is `tfb.Scale(log_scale=log s)` after `tfb.Shift(t)`.

  Scales:
    'tanh' (default): log s = c * tanh(r / c), a soft clamp: s is in
      (e^-c, e^c) whatever r is, and s = 1 at r = 0.
    'sigmoid': s = sigmoid(r + 2), the scale of Glow's and the CInC paper's
      reference code (s ~ 0.88 at r = 0): bounded above by 1, not below.
    'exp': s = exp(r), the Glow paper's formula: unbounded both ways.

  Growth bound ('tanh'): |T(x)| <= e^c (|x| + |t|) and
  |T^-1(y)| <= e^c |y| + |t|, so a coupling can neither blow a value up nor
  divide it by a vanishing scale. With 'sigmoid' the inverse divides by a
  scale that may fall towards 0; with 'exp' both directions are unbounded.
  """

  def __init__(self, scale='tanh', log_scale_bound=LOG_SCALE_BOUND):
    if scale not in SCALES:
      raise ValueError(f'scale must be one of {SCALES}, got {scale!r}.')
    if not log_scale_bound > 0:
      raise ValueError(f'log_scale_bound must be positive, got '
                       f'{log_scale_bound}.')
    self.scale = scale
    self.log_scale_bound = float(log_scale_bound)

  @staticmethod
  def conditioner_outputs(channels):
    return 2 * channels

  def log_scale(self, raw):
    if self.scale == 'tanh':
      return base.soft_clip(raw, self.log_scale_bound)
    if self.scale == 'sigmoid':
      return tf.math.log_sigmoid(raw + 2.)
    return raw

  def __call__(self, params):
    shift, raw = tf.split(params, 2, axis=-1)
    return tfb.Chain([tfb.Scale(log_scale=self.log_scale(raw)),
                      tfb.Shift(shift)])


class SplineTransform:
  """`bijector_fn` of neural spline flows (Durkan et al. 2019): an
  elementwise monotonic rational-quadratic spline on [-B, B], the identity
  outside (`tfb.RationalQuadraticSpline`).

  The conditioner gives, per channel, K raw bin widths, K raw bin heights
  and K - 1 raw interior knot slopes:

    widths, heights = m + (2B - K m) softmax(raw)    (each bin >= m)
    slopes          = exp(c * tanh(raw / c))          in (e^-c, e^c)

  A zero conditioner output gives equal bins and unit slopes: the identity.

  Growth bound: the spline maps [-B, B] onto itself and is the identity
  outside, so |T(x)| <= max(|x|, B) and |T^-1(y)| <= max(|y|, B); every
  bin's height/width ratio is in [m / 2B, 2B / m] and every knot slope in
  (e^-c, e^c), which bounds the log-derivative both ways.

  References:
    Durkan, Bekasov, Murray, Papamakarios (2019). Neural Spline Flows.
    https://arxiv.org/abs/1906.04032
  """

  def __init__(self, bins=8, bound=3., min_bin_size=1e-3,
               log_slope_bound=LOG_SCALE_BOUND):
    base.check_positive_int(bins=bins)
    if not (bound > 0 and 0 < min_bin_size * bins < 2 * bound):
      raise ValueError(f'need bound > 0 and 0 < bins * min_bin_size < '
                       f'2 * bound; got bound={bound}, bins={bins}, '
                       f'min_bin_size={min_bin_size}.')
    self.bins, self.bound = bins, float(bound)
    self.min_bin_size = float(min_bin_size)
    self.log_slope_bound = float(log_slope_bound)

  def conditioner_outputs(self, channels):
    return (3 * self.bins - 1) * channels

  def _bin_sizes(self, raw):
    free = 2. * self.bound - self.bins * self.min_bin_size
    return self.min_bin_size + free * tf.nn.softmax(raw, axis=-1)

  def __call__(self, params):
    per_channel = 3 * self.bins - 1
    channels = params.shape[-1] // per_channel
    params = tf.reshape(params, tf.concat(
        [tf.shape(params)[:-1], [channels, per_channel]], axis=0))
    widths, heights, slopes = tf.split(
        params, [self.bins, self.bins, self.bins - 1], axis=-1)
    return tfb.RationalQuadraticSpline(
        self._bin_sizes(widths), self._bin_sizes(heights),
        tf.exp(base.soft_clip(slopes, self.log_slope_bound)),
        range_min=-self.bound)


class Coupling(base.FlowBijectorBase):
  """A coupling: split, one conditioner per transformed block, and a
  bijector built from the conditioner's output.

  With blocks x_1..x_n, conditioners NN_2..NN_n and B(p) = bijector_fn(p):

    Forward:  y_1 = x_1,  y_i = B(p_i)(x_i),  p_i = NN_i(x_1, ..., x_{i-1})
    Log-det:  sum_{i > 1} log|det dB(p_i)(x_i) / dx_i|
    Inverse:  x_1 = y_1, then for i = 2..n in turn
              x_i = B(p_i)^-1(y_i),  p_i = NN_i(x_1, ..., x_{i-1})

  The conditioners see inputs in both directions (the recovered blocks
  going back); conditioning the inverse on anything else breaks
  invertibility, which the contract tests check. Each conditioner runs once
  per call, and the value and the log-det come from that one run (TFP's
  `RealNVP` calls its `bijector_fn` once for each). Their outputs are cast
  to the coupling's dtype, so conditioners may compute in bfloat16 around
  an exact float32 map (`tfp_invconv.precision`).

  ```python
  spline = tfib.SplineTransform(bins=8)
  coupling = tfib.Coupling(
      4, 2, spline, lambda c_in, c_out, name: nets.glow_conditioner(
          c_in, c_out, 64, name=name))
  y = coupling.forward(x)                       # x: [B, H, W, 4]
  ```

  Growth bound: block 1 passes unchanged; each other block grows as the
  bijector `bijector_fn` builds allows (e.g. `AffineTransform('tanh')`: by
  at most e^c).

  References:
    Dinh, Sohl-Dickstein, Bengio (2017). Density estimation using Real NVP.
    https://arxiv.org/abs/1605.08803
    Nagar, Dufraisse, Varma (2021). CInC Flow: Characterizable Invertible
    3x3 Convolution. https://arxiv.org/abs/2107.01358
  """

  def __init__(self, channels, num_blocks, bijector_fn, make_conditioner,
               conditioner_outputs=None, event_rank=3, split='channel',
               context_features=0, dtype=tf.float32, validate_args=False,
               name='coupling', parameters=None):
    """Creates the coupling.

    Args:
      channels: input channels C, divisible by `num_blocks` for a channel
        split.
      num_blocks: n >= 2.
      bijector_fn: `params -> tfb.Bijector` on a block, `params` being the
        conditioner's output [..., conditioner_outputs]. Weights of its own
        (not from the conditioner) live on the Keras layers it lists in a
        `keras_layers` attribute.
      make_conditioner: `(in_channels, out_channels, name) -> keras layer`.
      conditioner_outputs: the conditioner's output channels, as an int or
        a function of the block's channel count; defaults to
        `bijector_fn.conditioner_outputs`.
      event_rank: 3 for images [H, W, C], 1 for vectors [C].
      split: 'channel' or (images, n = 2) 'checkerboard'.
      context_features: K > 0 makes the coupling conditional (vectors,
        event_rank 1): every conditioner also sees a context [..., K],
        passed as `forward(x, context=c)` (or `bijector_kwargs` of a
        distribution), as in `tfb.MaskedAutoregressiveFlow`.
      dtype, validate_args, name: as for every bijector here.
      parameters: the subclass's constructor arguments.
    """
    parameters = parameters or dict(locals())
    self._split = make_split(split, num_blocks)
    self._split.check(channels, name)
    block = self._split.block_channels(channels)
    if context_features and event_rank != 1:
      raise ValueError(f'{name}: a context is supported for vectors '
                       '(event_rank 1) only.')
    outputs = conditioner_outputs or getattr(
        bijector_fn, 'conditioner_outputs', None)
    if outputs is None:
      raise ValueError(f'{name}: give conditioner_outputs (the conditioner\'s '
                       'output channels per block)')
    self._num_blocks = num_blocks
    self._event_rank = event_rank
    self.bijector_fn = bijector_fn
    self.context_features = int(context_features)
    self._conditioners = [
        make_conditioner(i * block + self.context_features,
                         outputs(block) if callable(outputs) else int(outputs),
                         f'{name}_nn{i}')
        for i in range(1, num_blocks)]
    layers = self._conditioners + list(getattr(bijector_fn, 'keras_layers',
                                               []))
    super().__init__(event_shape_in=[None] * (event_rank - 1) + [channels],
                     layers=layers, forward_min_event_ndims=event_rank,
                     dtype=dtype, validate_args=validate_args,
                     parameters=parameters, name=name)

  def _params(self, i, known_blocks, context=None):
    if (context is None) != (not self.context_features):
      raise ValueError(
          f'{self.name}: ' + (f'needs a context of {self.context_features} '
                              'features (context=...)' if context is None
                              else 'was built without a context'))
    # A bfloat16 conditioner (tfp_invconv.precision) feeds a float32 map.
    return tf.cast(self._conditioners[i - 1](self.conditioner_input(
        i, known_blocks, context)), self.dtype)

  @staticmethod
  def conditioner_input(i, known_blocks, context=None):
    """The input of NN_i: blocks 1..i-1 and the context, if any."""
    return tf.concat(
        known_blocks[:i] + ([] if context is None else [context]), axis=-1)

  @property
  def conditioners(self):
    """The conditioner networks NN_2..NN_n, in block order."""
    return list(self._conditioners)

  num_blocks = property(lambda self: self._num_blocks, doc='n.')

  def blocks(self, x):
    """The blocks x_1..x_n of x, as the coupling splits it."""
    return self._split.split(x)

  def block_bijector(self, i, known_blocks, context=None):
    """B(p_i), the bijector of block i given the blocks before it."""
    return self.bijector_fn(self._params(i, known_blocks, context))

  def _transform(self, block, bijector, inverse):
    """(value, log-det per example) of one block."""
    if inverse:
      value = bijector.inverse(block)
      log_det = bijector.inverse_log_det_jacobian(
          block, event_ndims=self._event_rank)
    else:
      value = bijector.forward(block)
      log_det = bijector.forward_log_det_jacobian(
          block, event_ndims=self._event_rank)
    return value, tf.broadcast_to(log_det, tf.shape(block)[:1])

  def _couple(self, blocks, inverse, context):
    """Transforms blocks 2..n in turn; the conditioners always see inputs:
    `blocks` themselves going forward, the recovered blocks going back."""
    done, log_det = [blocks[0]], 0.
    for i in range(1, self._num_blocks):
      bijector = self.block_bijector(i, done if inverse else blocks, context)
      value, log_det_i = self._transform(blocks[i], bijector, inverse)
      done.append(value)
      log_det += log_det_i
    return self._split.merge(done), log_det

  def _forward_and_log_det(self, x, context=None):
    return self._couple(self._split.split(x), False, context)

  def _inverse_and_log_det(self, y, context=None):
    return self._couple(self._split.split(y), True, context)


def _glow_nets(hidden_width, dtype):
  return lambda c_in, c_out, name: nets.glow_conditioner(
      c_in, c_out, hidden_width, dtype=dtype, name=name)


class AffineCoupling(Coupling):
  """Glow's affine coupling: two channel blocks, t and s from Glow's
  conditioner network of the first.

    Forward:  y_1 = x_1,  y_2 = (x_2 + t(x_1)) * s(x_1)
    Log-det:  sum log s(x_1)
    Inverse:  x_1 = y_1,  x_2 = y_2 / s(y_1) - t(y_1)

  `scale` and `log_scale_bound` as for `AffineTransform`: by default
  log s = 2 tanh(r / 2); scale='sigmoid' reproduces the papers' reference
  models.

  ```python
  coupling = AffineCoupling(12, hidden_width=256)
  z = coupling.forward(x)            # x: [B, H, W, 12]
  ```

  Growth bound ('tanh'): |y_2| <= e^c (|x_2| + |t|) and
  |x_2| <= e^c |y_2| + |t|, and |log det| <= c per transformed value.

  References:
    Kingma, Dhariwal (2018). Glow: Generative Flow with Invertible 1x1
    Convolutions. https://arxiv.org/abs/1807.03039
  """

  NUM_BLOCKS = 2
  DEFAULT_NAME = 'affine_coupling'

  def __init__(self, channels, hidden_width=512, scale='tanh',
               log_scale_bound=LOG_SCALE_BOUND, dtype=tf.float32,
               validate_args=False, name=None):
    parameters = dict(locals())
    super().__init__(channels, self.NUM_BLOCKS,
                     AffineTransform(scale, log_scale_bound),
                     _glow_nets(hidden_width, dtype), dtype=dtype,
                     validate_args=validate_args,
                     name=name or self.DEFAULT_NAME, parameters=parameters)


class QuadCoupling(AffineCoupling):
  """CInC's Quad-coupling: four channel blocks, each conditioned on those
  before it (CInC eqs. 3-6).

    Forward:  y_1 = x_1,  y_i = (x_i + t_i(x_1..x_{i-1})) * s_i(x_1..x_{i-1})
    Log-det:  sum_{i=2..4} sum log s_i
    Inverse:  x_1 = y_1, then for i = 2, 3, 4 in turn
              x_i = y_i / s_i(x_1..x_{i-1}) - t_i(x_1..x_{i-1})

  ```python
  coupling = QuadCoupling(12, hidden_width=256)     # channels divisible by 4
  z = coupling.forward(x)
  ```

  Growth bound ('tanh'): per block, that of `AffineCoupling`.

  References:
    Nagar, Dufraisse, Varma (2021). CInC Flow: Characterizable Invertible
    3x3 Convolution, §3.2. https://arxiv.org/abs/2107.01358
  """

  NUM_BLOCKS = 4
  DEFAULT_NAME = 'quad_coupling'


class SplineCoupling(Coupling):
  """Neural spline flows' coupling: two blocks,
  y_2 = RQS(x_2; NN(x_1)), a rational-quadratic spline per value.

    Forward:  y_1 = x_1,  y_2 = S(x_2),  S = `SplineTransform`(NN(x_1))
    Log-det:  sum log S'(x_2)
    Inverse:  x_1 = y_1,  x_2 = S^-1(y_2) (a quadratic per value)

  ```python
  coupling = SplineCoupling(4, hidden_width=64, bins=8)
  z = coupling.forward(x)            # x: [B, H, W, 4]
  ```

  Growth bound: |y_2| <= max(|x_2|, B) and |x_2| <= max(|y_2|, B): the
  spline maps [-B, B] onto itself and is the identity outside
  (`SplineTransform`).

  References:
    Durkan, Bekasov, Murray, Papamakarios (2019). Neural Spline Flows.
    https://arxiv.org/abs/1906.04032
  """

  def __init__(self, channels, hidden_width=512, bins=8, bound=3.,
               dtype=tf.float32, validate_args=False, name='spline_coupling'):
    parameters = dict(locals())
    super().__init__(channels, 2, SplineTransform(bins, bound),
                     _glow_nets(hidden_width, dtype), dtype=dtype,
                     validate_args=validate_args, name=name,
                     parameters=parameters)
