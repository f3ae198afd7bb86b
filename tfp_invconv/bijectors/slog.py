"""S-Log gate (Karami et al. 2019, §2.2).

  Forward:  f_a(x) = sign(x) * log(a|x| + 1) / a      (a > 0 per channel)
  Log-det:  sum -log(a|x| + 1)
  Inverse:  f_a^-1(y) = sign(y) * (exp(a|y|) - 1) / a

The identity as a -> 0; its log-det term acts as an l1 (Laplace)
regulariser. a = softplus(raw), starting at 1. `log1p`/`expm1` keep it exact
near 0.
"""

import math

import tensorflow as tf

from tfp_invconv.bijectors import base

INITIAL_ALPHA = 1.


def alpha_of(raw):
  return tf.nn.softplus(raw)


def raw_alpha(alpha):
  """softplus^-1, for initial values."""
  return math.log(math.expm1(alpha))


def slog(x, alpha):
  return tf.sign(x) * tf.math.log1p(alpha * tf.abs(x)) / alpha


def slog_inverse(y, alpha):
  return tf.sign(y) * tf.math.expm1(alpha * tf.abs(y)) / alpha


def slog_log_derivative(x, alpha):
  """log f_a'(x), elementwise."""
  return -tf.math.log1p(alpha * tf.abs(x))


class SLog(base.FlowBijectorBase):
  """Elementwise S-Log with a learned a > 0 per channel."""

  def __init__(self, channels, event_rank=3, dtype=tf.float32,
               validate_args=False, name='slog'):
    parameters = dict(locals())
    layer = base.parameter_layer(name, dtype)
    self._raw_alpha = base.assign_weight(
        layer, 'raw_alpha', [channels],
        value=tf.fill([channels], raw_alpha(INITIAL_ALPHA)))
    super().__init__(event_shape_in=[None] * (event_rank - 1) + [channels],
                     layers=[layer], forward_min_event_ndims=event_rank,
                     dtype=dtype, validate_args=validate_args,
                     parameters=parameters, name=name)

  def _forward_and_log_det(self, x):
    alpha = alpha_of(self._raw_alpha)
    return (slog(x, alpha),
            base.sum_per_example(slog_log_derivative(x, alpha)))

  def _inverse_and_log_det(self, y):
    alpha = alpha_of(self._raw_alpha)
    x = slog_inverse(y, alpha)
    return x, -base.sum_per_example(slog_log_derivative(x, alpha))
