"""Couplings: split + conditioner + inner transform, for n channel blocks.

The input's channels are cut into n equal blocks x_1..x_n. Block i > 1 is
transformed by an elementwise invertible map T whose parameters come from a
conditioner network of the blocks before it (of the *inputs*, CInC eq. 3-6):

  Forward:  y_1 = x_1,  y_i = T(x_i; NN_i(x_1, ..., x_{i-1}))
  Log-det:  sum_i log|T'(x_i; NN_i(...))|
  Inverse:  x_1 = y_1,  then for i = 2..n in turn
            x_i = T^-1(y_i; NN_i(x_1, ..., x_{i-1}))

n = 2 is RealNVP/Glow's affine coupling; n = 4 is the Quad-coupling of
Nagar, Dufraisse & Varma (2021), §3.2. Conditioning the inverse of block i on
anything but the recovered x_1..x_{i-1} (the reference code conditions on
the last block) breaks invertibility; the contract tests check that.
"""

import tensorflow as tf

from tfp_invconv import nets
from tfp_invconv.bijectors import base

SCALES = ('sigmoid', 'exp')


class AffineTransform:
  """T(x; t, r) = (x + t) * s with s = sigmoid(r + 2) (default) or exp(r).

  sigmoid(r + 2) is the scale both reference codes use (bounded, s ~ 0.88 at
  r = 0); exp(r) is the Glow paper's formula.
  """

  num_params = 2

  def __init__(self, scale='sigmoid'):
    if scale not in SCALES:
      raise ValueError(f'scale must be one of {SCALES}, got {scale!r}.')
    self.scale = scale

  def _shift_and_log_scale(self, params):
    shift, raw = tf.split(params, 2, axis=-1)
    if self.scale == 'sigmoid':
      return shift, tf.math.log_sigmoid(raw + 2.)
    return shift, raw

  def forward(self, x, params):
    shift, log_scale = self._shift_and_log_scale(params)
    return (x + shift) * tf.exp(log_scale), base.sum_per_example(log_scale)

  def inverse(self, y, params):
    shift, log_scale = self._shift_and_log_scale(params)
    return y * tf.exp(-log_scale) - shift, -base.sum_per_example(log_scale)


class Coupling(base.FlowBijectorBase):
  """n-block coupling with one conditioner per transformed block."""

  def __init__(self, channels, num_blocks, transform, make_conditioner,
               event_rank=3, dtype=tf.float32, validate_args=False,
               name='coupling', parameters=None):
    """Creates the coupling.

    Args:
      channels: input channels C, divisible by `num_blocks`.
      num_blocks: n >= 2.
      transform: the elementwise map, with `num_params`,
        `forward(x, params)` and `inverse(y, params)` returning
        `(value, log_det_per_example)`.
      make_conditioner: `(in_channels, out_channels, name) -> keras layer`.
      event_rank: 3 for images [H, W, C], 1 for vectors [C].
      dtype, validate_args, name: as for every bijector here.
      parameters: the subclass's constructor arguments.
    """
    parameters = parameters or dict(locals())
    if num_blocks < 2 or channels % num_blocks:
      raise ValueError(
          f'{name}: a {num_blocks}-block coupling needs a channel count '
          f'divisible by {num_blocks} (and n >= 2); got {channels} channels.')
    block = channels // num_blocks
    self._num_blocks = num_blocks
    self._transform = transform
    self._conditioners = [
        make_conditioner(i * block, transform.num_params * block,
                         f'{name}_nn{i}')
        for i in range(1, num_blocks)]
    layers = self._conditioners + list(getattr(transform, 'keras_layers', []))
    super().__init__(event_shape_in=[None] * (event_rank - 1) + [channels],
                     layers=layers, forward_min_event_ndims=event_rank,
                     dtype=dtype, validate_args=validate_args,
                     parameters=parameters, name=name)

  def _params(self, i, known_blocks):
    return self._conditioners[i - 1](tf.concat(known_blocks[:i], axis=-1))

  def _couple(self, blocks, transform, inputs_known):
    """Transforms blocks 2..n in turn; the conditioners always see inputs:
    `blocks` themselves going forward, the recovered blocks going back."""
    done, log_det = [blocks[0]], 0.
    for i in range(1, self._num_blocks):
      inputs = blocks if inputs_known else done
      value, log_det_i = transform(blocks[i], self._params(i, inputs))
      done.append(value)
      log_det += log_det_i
    return tf.concat(done, axis=-1), log_det

  def _forward_and_log_det(self, x):
    return self._couple(tf.split(x, self._num_blocks, axis=-1),
                        self._transform.forward, inputs_known=True)

  def _inverse_and_log_det(self, y):
    return self._couple(tf.split(y, self._num_blocks, axis=-1),
                        self._transform.inverse, inputs_known=False)


def _glow_nets(hidden_width, dtype):
  return lambda c_in, c_out, name: nets.glow_conditioner(
      c_in, c_out, hidden_width, dtype=dtype, name=name)


class AffineCoupling(Coupling):
  """Glow's affine coupling: two blocks, y_2 = (x_2 + t(x_1)) * s(x_1)."""

  NUM_BLOCKS = 2
  DEFAULT_NAME = 'affine_coupling'

  def __init__(self, channels, hidden_width=512, scale='sigmoid',
               dtype=tf.float32, validate_args=False, name=None):
    parameters = dict(locals())
    super().__init__(channels, self.NUM_BLOCKS, AffineTransform(scale),
                     _glow_nets(hidden_width, dtype), dtype=dtype,
                     validate_args=validate_args,
                     name=name or self.DEFAULT_NAME, parameters=parameters)


class QuadCoupling(AffineCoupling):
  """CInC's Quad-coupling: four blocks, each conditioned on those before."""

  NUM_BLOCKS = 4
  DEFAULT_NAME = 'quad_coupling'
