"""S-Log gate (Karami et al. 2019, §2.2), with linear tails."""

import math

import tensorflow as tf

from tfp_invconv.bijectors import base

INITIAL_ALPHA = 1.
# a never reaches 0 (where f_a / a is 0 / 0); below it S-Log is the identity
# to float precision anyway.
MIN_ALPHA = 1e-4


def alpha_of(raw):
  return tf.maximum(tf.nn.softplus(raw), MIN_ALPHA)


def raw_alpha(alpha):
  """softplus^-1, for initial values."""
  return math.log(math.expm1(alpha))


TAIL = 1e3
_LOG_TAIL = math.log1p(TAIL)


def slog(x, alpha):
  scaled = alpha * tf.abs(x)
  inner = (tf.math.log1p(tf.minimum(scaled, TAIL))
           + tf.nn.relu(scaled - TAIL) / (1. + TAIL))
  return tf.sign(x) * inner / alpha


def slog_inverse(y, alpha):
  scaled = alpha * tf.abs(y)
  inner = (tf.math.expm1(tf.minimum(scaled, _LOG_TAIL))
           + tf.nn.relu(scaled - _LOG_TAIL) * (1. + TAIL))
  return tf.sign(y) * inner / alpha


def slog_log_derivative(x, alpha):
  """log f_a'(x), elementwise."""
  return -tf.math.log1p(tf.minimum(alpha * tf.abs(x), TAIL))


def slog_inverse_log_derivative(y, alpha):
  """log (f_a^-1)'(y), elementwise."""
  return tf.minimum(alpha * tf.abs(y), _LOG_TAIL)


class SLog(base.FlowBijectorBase):
  """Elementwise S-Log with a learned a > 0 per channel.

    Forward:  f_a(x) = sign(x) * log(a|x| + 1) / a      (a > 0 per channel)
    Log-det:  sum -log(a|x| + 1)
    Inverse:  f_a^-1(y) = sign(y) * (exp(a|y|) - 1) / a

  The identity as a -> 0; its log-det term acts as an l1 (Laplace)
  regulariser. a = softplus(raw), starting at 1. `log1p`/`expm1` keep it exact
  near 0.

  ```python
  gate = SLog(12)
  z = gate.forward(x)                # x: [B, H, W, 12]
  ```

  Growth bound. The inverse is exponential, so beyond a|x| = K (`TAIL`,
  1000, far outside what data reach) the gate continues along its tangent:
  f_a(x) = sign(x) (log(1 + K) + (a|x| - K) / (1 + K)) / a there, still
  smooth (C^1) and increasing. Then both directions are at most linear:

    |f_a(x)| <= |x|,    |f_a^-1(y)| <= max(e^(a|y|) - 1, K + (1 + K) a|y|) / a

  so the inverse grows with slope 1 + K beyond |y| = log(1 + K)/a instead of
  exponentially. The log-derivative is -log(1 + min(a|x|, K)).

  References:
    Karami, Schuurmans, Sohl-Dickstein, Dinh, Duckworth (2019). Invertible
    Convolutional Flow. NeurIPS 2019.
  """

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
