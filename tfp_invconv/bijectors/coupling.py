"""Couplings: split + conditioner + inner transform, for n channel blocks.

The input's channels are cut into n equal blocks x_1..x_n. Block i > 1 is
transformed by an elementwise invertible map T whose parameters come from a
conditioner network of the blocks before it (of the *inputs*, CInC eq. 3-6):

  Forward:  y_1 = x_1,  y_i = T(x_i; NN_i(x_1, ..., x_{i-1}))
  Log-det:  sum_i log|T'(x_i; NN_i(...))|
  Inverse:  x_1 = y_1,  then for i = 2..n in turn
            x_i = T^-1(y_i; NN_i(x_1, ..., x_{i-1}))

n = 2 is RealNVP/Glow's affine coupling; n = 4 is the Quad-coupling of
Nagar, Dufraisse & Varma (2021), §3.2. The blocks are channel groups
(`ChannelSplit`) or, for n = 2, the two colours of a checkerboard over the
pixels, each packed into an H x W/2 image (`CheckerboardSplit`), so that a
transform may convolve a block. Conditioning the inverse of block i on
anything but the recovered x_1..x_{i-1} (the reference code conditions on
the last block) breaks invertibility; the contract tests check that.
"""

import tensorflow as tf

from tfp_invconv import nets
from tfp_invconv.bijectors import base

SCALES = ('tanh', 'sigmoid', 'exp')
# c of the soft clamp log s = c * tanh(r / c), chosen by measurement (README,
# "Finite by construction").
LOG_SCALE_BOUND = 2.

_CONDITIONER_INPUTS = base.Recorder()
_AFFINE_SCALES = base.Recorder()


def recording_affine_scales():
  """Collects, for every `AffineTransform` run inside the block (eagerly), a
  dict with its `scale` kind ('sigmoid' or 'exp') and `smallest_log_scale`
  per example ([batch]): where an inverse divides by a small scale, e.g. to
  find the coupling that makes a sample overflow."""
  return _AFFINE_SCALES.recording()


def recording_conditioner_inputs():
  """Collects, for every coupling run inside the block (eagerly), a dict
  with the coupling's name, the block index i and the input of its
  conditioner NN_i, e.g. to see which hidden units a trained conditioner
  still uses (`Coupling.conditioners`)."""
  return _CONDITIONER_INPUTS.recording()


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


class ElementwiseParams:
  """A transform with `num_params` conditioner outputs per channel."""

  num_params = None

  def conditioner_outputs(self, channels):
    return self.num_params * channels


class AffineTransform(ElementwiseParams):
  """T(x; t, r) = (x + t) * s, with the log-scale log s from the raw output r.

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

  num_params = 2

  def __init__(self, scale='tanh', log_scale_bound=LOG_SCALE_BOUND):
    if scale not in SCALES:
      raise ValueError(f'scale must be one of {SCALES}, got {scale!r}.')
    if not log_scale_bound > 0:
      raise ValueError(f'log_scale_bound must be positive, got '
                       f'{log_scale_bound}.')
    self.scale = scale
    self.log_scale_bound = float(log_scale_bound)

  def log_scale(self, raw):
    if self.scale == 'tanh':
      return base.soft_clip(raw, self.log_scale_bound)
    if self.scale == 'sigmoid':
      return tf.math.log_sigmoid(raw + 2.)
    return raw

  def _shift_and_log_scale(self, params):
    shift, raw = tf.split(params, 2, axis=-1)
    log_scale = self.log_scale(raw)
    if _AFFINE_SCALES.active and tf.executing_eagerly():
      batch = tf.reshape(log_scale, [tf.shape(log_scale)[0], -1])
      _AFFINE_SCALES.record(scale=self.scale, smallest_log_scale=tf.reduce_min(
          batch, axis=-1).numpy())
    return shift, log_scale

  def forward(self, x, params):
    shift, log_scale = self._shift_and_log_scale(params)
    return (x + shift) * tf.exp(log_scale), base.sum_per_example(log_scale)

  def inverse(self, y, params):
    shift, log_scale = self._shift_and_log_scale(params)
    return y * tf.exp(-log_scale) - shift, -base.sum_per_example(log_scale)


class Coupling(base.FlowBijectorBase):
  """n-block coupling with one conditioner per transformed block.

  Growth bound: block 1 passes unchanged; each other block grows as its
  transform allows (for `AffineTransform('tanh')`, by at most e^c).
  """

  def __init__(self, channels, num_blocks, transform, make_conditioner,
               event_rank=3, split='channel', context_features=0,
               dtype=tf.float32, validate_args=False, name='coupling',
               parameters=None):
    """Creates the coupling.

    Args:
      channels: input channels C, divisible by `num_blocks` for a channel
        split.
      num_blocks: n >= 2.
      transform: the map of a block, with `conditioner_outputs(channels)`,
        `forward(x, params)` and `inverse(y, params)` returning
        `(value, log_det_per_example)`.
      make_conditioner: `(in_channels, out_channels, name) -> keras layer`.
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
    self._num_blocks = num_blocks
    self._transform = transform
    self.context_features = int(context_features)
    self._conditioners = [
        make_conditioner(i * block + self.context_features,
                         transform.conditioner_outputs(block),
                         f'{name}_nn{i}')
        for i in range(1, num_blocks)]
    layers = self._conditioners + list(getattr(transform, 'keras_layers', []))
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
    inputs = tf.concat(
        known_blocks[:i] + ([] if context is None else [context]), axis=-1)
    if _CONDITIONER_INPUTS.active and tf.executing_eagerly():
      _CONDITIONER_INPUTS.record(coupling=self.name, block=i,
                                 inputs=inputs.numpy())
    return self._conditioners[i - 1](inputs)

  @property
  def conditioners(self):
    """The conditioner networks NN_2..NN_n, in block order."""
    return list(self._conditioners)

  def _couple(self, blocks, transform, inputs_known, context):
    """Transforms blocks 2..n in turn; the conditioners always see inputs:
    `blocks` themselves going forward, the recovered blocks going back."""
    done, log_det = [blocks[0]], 0.
    for i in range(1, self._num_blocks):
      inputs = blocks if inputs_known else done
      value, log_det_i = transform(blocks[i],
                                   self._params(i, inputs, context))
      done.append(value)
      log_det += log_det_i
    return self._split.merge(done), log_det

  def _forward_and_log_det(self, x, context=None):
    return self._couple(self._split.split(x), self._transform.forward,
                        inputs_known=True, context=context)

  def _inverse_and_log_det(self, y, context=None):
    return self._couple(self._split.split(y), self._transform.inverse,
                        inputs_known=False, context=context)


def _glow_nets(hidden_width, dtype):
  return lambda c_in, c_out, name: nets.glow_conditioner(
      c_in, c_out, hidden_width, dtype=dtype, name=name)


class AffineCoupling(Coupling):
  """Glow's affine coupling: two blocks, y_2 = (x_2 + t(x_1)) * s(x_1).

  `scale` and `log_scale_bound` as for `AffineTransform`: by default
  log s = 2 tanh(r / 2); scale='sigmoid' reproduces the papers' reference
  models.

  Growth bound ('tanh'): |y_2| <= e^c (|x_2| + |t|) and
  |x_2| <= e^c |y_2| + |t|, and |log det| <= c per transformed value.
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
  """CInC's Quad-coupling: four blocks, each conditioned on those before.

  Growth bound ('tanh'): per block, that of `AffineCoupling`.
  """

  NUM_BLOCKS = 4
  DEFAULT_NAME = 'quad_coupling'
