"""Per-channel affine layers: ActNorm (Glow) and the learned top prior.

  Forward:  y = (x + b) * exp(log_s)     (b, log_s per channel)
  Log-det:  H * W * sum_c log_s_c
  Inverse:  x = y * exp(-log_s) - b

`ActNorm` (Kingma & Dhariwal 2018, §3.1) initialises b and log_s from the
first batch so that its output has zero mean and unit variance per channel;
whether that happened is a saved weight, so restoring a checkpoint never
re-initialises. `LearnedPrior` is the same map with zero initial values: it
turns the flow's top-level latent into a standard normal one, i.e. it learns
the top prior N(mu, sigma) with mu = -b and sigma = exp(-log_s).
"""

import contextlib

import tensorflow as tf

from tfp_invconv.bijectors import base

_DATA_INIT = {'active': False}


@contextlib.contextmanager
def data_dependent_init():
  """Inside this context, uninitialised ActNorms initialise from their input.

  Run one eager forward pass of the flow on a batch inside it (what
  `FlowModel.initialize` does).
  """
  previous = _DATA_INIT['active']
  _DATA_INIT['active'] = True
  try:
    yield
  finally:
    _DATA_INIT['active'] = previous


class _ChannelAffine(base.FlowBijectorBase):
  """y = (x + b) * exp(log_s) per channel."""

  def __init__(self, channels, dtype, validate_args, parameters, name,
               extra_weights=()):
    c = int(channels)
    layer = base.parameter_layer(name, dtype)
    self._bias = base.assign_weight(layer, 'bias', [c])
    self._log_scale = base.assign_weight(layer, 'log_scale', [c])
    self._extra = {n: base.assign_weight(layer, n, [], trainable=False)
                   for n in extra_weights}
    super().__init__(event_shape_in=[None, None, c], layers=[layer],
                     dtype=dtype, validate_args=validate_args,
                     parameters=parameters, name=name)

  def _log_det(self, x):
    return base.constant_log_det(x, tf.reduce_sum(self._log_scale))

  def _forward_and_log_det(self, x):
    y = (x + self._bias) * tf.exp(self._log_scale)
    return y, self._log_det(x)

  def _inverse_and_log_det(self, y):
    x = y * tf.exp(-tf.convert_to_tensor(self._log_scale)) - self._bias
    return x, -self._log_det(y)


class ActNorm(_ChannelAffine):
  """Activation normalisation with data-dependent initialisation."""

  def __init__(self, channels, dtype=tf.float32, validate_args=False,
               name='actnorm', epsilon=1e-6):
    parameters = dict(locals())
    self._epsilon = epsilon
    super().__init__(channels, dtype, validate_args, parameters, name,
                     extra_weights=('initialized',))

  @property
  def initialized(self):
    return bool(self._extra['initialized'].numpy())

  def initialize_from(self, x):
    """Sets b, log_s so that x maps to zero mean, unit variance per channel."""
    mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
    self._bias.assign(-mean)
    self._log_scale.assign(-0.5 * tf.math.log(variance + self._epsilon))
    self._extra['initialized'].assign(1.)

  def _forward_and_log_det(self, x):
    if _DATA_INIT['active'] and not self.initialized:
      self.initialize_from(x)
    return super()._forward_and_log_det(x)


class LearnedPrior(_ChannelAffine):
  """The learned top prior N(mu, sigma) per channel, as z -> (z - mu)/sigma."""

  def __init__(self, channels, dtype=tf.float32, validate_args=False,
               name='learned_prior'):
    parameters = dict(locals())
    super().__init__(channels, dtype, validate_args, parameters, name)
