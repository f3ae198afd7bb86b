"""ActNorm (Glow): a per-channel affine layer with data-dependent initialisation."""

import contextlib

import tensorflow as tf

from tfp_invconv.bijectors import base


@contextlib.contextmanager
def data_dependent_init(actnorms):
  """Inside this context, the given ActNorms initialise from their input.

  Run one forward pass of the flow on a batch inside it, eagerly or inside
  `tf.function` / `strategy.run` (what `FlowModel.initialize` does). Under
  a distribution strategy the statistics are averaged over every replica
  and worker, so all of them get the same initial values.
  """
  actnorms = [a for a in actnorms if not a.initialized]
  for a in actnorms:
    a._initializing = True  # pylint: disable=protected-access
  try:
    yield
  finally:
    for a in actnorms:
      a._initializing = False  # pylint: disable=protected-access


def _moments_over_replicas(x):
  """Per-channel mean and variance of x, averaged over all replicas."""
  mean = tf.reduce_mean(x, axis=[0, 1, 2])
  mean_square = tf.reduce_mean(tf.square(x), axis=[0, 1, 2])
  context = tf.distribute.get_replica_context()
  if context is not None and context.num_replicas_in_sync > 1:
    mean, mean_square = context.all_reduce('MEAN', [mean, mean_square])
  return mean, mean_square - tf.square(mean)


class ChannelAffine(base.FlowBijectorBase):
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
                     is_constant_jacobian=True, dtype=dtype,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  def log_scale(self):
    """The per-channel log s the map applies (|log s| <= MAX_LOG_SCALE, so
    |y| <= e^10 (|x| + |b|) and |x| <= e^10 |y| + |b|)."""
    return base.bounded_log_scale(self._log_scale)

  def _log_det(self, x, log_scale):
    return base.constant_log_det(x, tf.reduce_sum(log_scale))

  def _forward_and_log_det(self, x):
    log_scale = self.log_scale()
    y = (x + self._bias) * tf.exp(log_scale)
    return y, self._log_det(x, log_scale)

  def _inverse_and_log_det(self, y):
    log_scale = self.log_scale()
    x = y * tf.exp(-log_scale) - self._bias
    return x, -self._log_det(y, log_scale)


class ActNorm(ChannelAffine):
  """Activation normalisation with data-dependent initialisation (Glow).

    Forward:  y = (x + b) * exp(log_s)     (b, log_s per channel)
    Log-det:  H * W * sum_c log_s_c
    Inverse:  x = y * exp(-log_s) - b

  b and log_s start from the first batch so that the output has zero mean
  and unit variance per channel (`FlowModel.fit` does it, or
  `data_dependent_init`); whether that happened is a saved weight, so
  restoring a checkpoint never re-initialises.

  ```python
  actnorm = ActNorm(12)
  with data_dependent_init([actnorm]):
    actnorm.forward(first_batch)            # sets b and log_s
  y = actnorm.forward(x)
  ```

  Growth bound: |log s| <= 10 (`base.MAX_LOG_SCALE`), so
  |y| <= e^10 (|x| + |b|) and |x| <= e^10 |y| + |b|.

  References:
    Kingma, Dhariwal (2018). Glow: Generative Flow with Invertible 1x1
    Convolutions, §3.1. https://arxiv.org/abs/1807.03039
  """

  def __init__(self, channels, dtype=tf.float32, validate_args=False,
               name='actnorm', epsilon=1e-6):
    parameters = dict(locals())
    self._epsilon = epsilon
    self._initializing = False
    super().__init__(channels, dtype, validate_args, parameters, name,
                     extra_weights=('initialized',))

  @property
  def initialized(self):
    return bool(self._extra['initialized'].numpy())

  def initialize_from(self, x):
    """Sets b, log_s so that x maps to zero mean, unit variance per channel
    (statistics over every replica under a distribution strategy)."""
    mean, variance = _moments_over_replicas(x)
    self._bias.assign(-mean)
    self._log_scale.assign(-0.5 * tf.math.log(variance + self._epsilon))
    self._extra['initialized'].assign(1.)

  def _forward_and_log_det(self, x):
    if self._initializing:
      self.initialize_from(x)
    return super()._forward_and_log_det(x)
