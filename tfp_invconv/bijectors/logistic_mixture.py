"""The logistic-mixture CDF of Flow++ (Ho et al. 2019), as bijectors."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_invconv.bijectors import base

tfb = tfp.bijectors


class LogisticMixtureLogit(base.OnePassBijector):
  """x -> logit(F(x)), F the CDF of a mixture of logistics (elementwise).

  With mixture weights pi = softmax(logits), locations mu and log-scales
  log s (M components, on the last axis of the parameters):

    F(x) = sum_m pi_m sigmoid((x - mu_m) / s_m)            in (0, 1)

  `LogisticMixtureLogit` is x -> logit(F(x)), the "mixture CDF -> logit" pair
  of a Flow++ or PAC coupling fused into one map from R to R, evaluated in log
  space so that neither F nor 1 - F underflows in the tails:

    Forward:  z = log F(x) - log(1 - F(x))
    Log-det:  log F'(x) - log F(x) - log(1 - F(x))
    Inverse:  the root of logit(F(x)) = z in [min_m x_m, max_m x_m], where
              x_m = mu_m + s_m z is where component m alone reaches F = sigmoid(z)
              (F is increasing, so the root lies between them): Newton steps
              on logit(F(x)) - z from the weighted mean of the x_m. A Newton
              step that would leave the bracket (which every step narrows) or
              not halve the last step is replaced by regula falsi (Illinois)
              between the bracket's ends, or by its midpoint while an end's
              residual is unknown. It stops when every |logit F(x) - z| <=
              tolerance (1 + |z|), or the root is pinned to tolerance (1 + |x|)
              by Newton's step or the bracket.

  Why Newton and not `tfp.math.find_root_chandrupatla`: the derivative comes
  with the function's own terms, and on a PAC flow's mixtures Chandrupatla
  took up to 12 iterations at 1.6 forward passes each. Why the halving rule:
  next to a steep component logit F is S-shaped, and plain safeguarded Newton
  jumped from side to side of it for ~40 iterations on a trained flow's
  mixtures (tests/test_pac.py holds one); with the rule, 12 sufficed.

  `logistic_mixture_cdf(...)` is F itself, `Sigmoid` after the fused map.

  Growth bound: with weights pi_k, locations mu_k and scales s_k,
  |y| <= min_k (|x - mu_k| / s_k - log pi_k) + log 2, and
  |x| <= max_k |mu_k| + max_k s_k (|y| + log 2): linear both ways.

  ```python
  b = LogisticMixtureLogit(logits, locs, log_scales)  # each [..., M]
  z = b.forward(x)                                    # x: [...]
  x_back = b.inverse(z)                               # root finding
  ```

  References:
    Ho, Chen, Srinivas, Duan, Abbeel (2019). Flow++: Improving Flow-Based
    Generative Models. https://arxiv.org/abs/1902.00275
  """

  def __init__(self, logits, locs, log_scales, tolerance=None,
               max_iterations=60, validate_args=False,
               name='logistic_mixture_logit'):
    """Args:
      logits, locs, log_scales: [..., M] mixture parameters, broadcast
        against x with the component axis last.
      tolerance: of the inverse's root finding (see module doc; default
        1e-6 in float32, 1e-12 in float64).
      max_iterations: cap on the root finder's iterations.
    """
    parameters = dict(locals())
    with tf.name_scope(name):
      self._logits = tf.convert_to_tensor(logits)
      dtype = self._logits.dtype
      self._locs = tf.convert_to_tensor(locs, dtype)
      self._log_scales = tf.convert_to_tensor(log_scales, dtype)
      self._log_weights = tf.nn.log_softmax(self._logits, axis=-1)
      self._inverse_scales = tf.exp(-self._log_scales)
    self._tolerance = tolerance or (1e-12 if dtype == tf.float64 else 1e-6)
    self._max_iterations = max_iterations
    super().__init__(forward_min_event_ndims=0, dtype=dtype,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  def _log_cdf_sf_pdf(self, x):
    u = (x[..., None] - self._locs) * self._inverse_scales
    # log sigmoid(+-u) = min(+-u, 0) - log(1 + exp(-|u|)), sharing the log.
    shared = tf.math.log1p(tf.exp(-tf.abs(u)))
    log_sigmoid = tf.minimum(u, 0.) - shared
    log_sigmoid_neg = tf.minimum(-u, 0.) - shared
    log_cdf = tf.reduce_logsumexp(self._log_weights + log_sigmoid, -1)
    log_sf = tf.reduce_logsumexp(self._log_weights + log_sigmoid_neg, -1)
    log_pdf = tf.reduce_logsumexp(
        self._log_weights + log_sigmoid + log_sigmoid_neg - self._log_scales,
        -1)
    return log_cdf, log_sf, log_pdf

  def _forward_and_log_det(self, x):
    log_cdf, log_sf, log_pdf = self._log_cdf_sf_pdf(x)
    return log_cdf - log_sf, log_pdf - log_cdf - log_sf

  def _inverse_and_log_det(self, z):
    x = self._root(z)
    return x, -self._forward_and_log_det(x)[1]

  def _root(self, z):
    components = self._locs + tf.exp(self._log_scales) * z[..., None]
    low = tf.reduce_min(components, axis=-1)
    high = tf.reduce_max(components, axis=-1)
    start = tf.reduce_sum(tf.exp(self._log_weights) * components, axis=-1)
    unknown = tf.fill(tf.shape(z), tf.constant(float('nan'), z.dtype))
    infinity = tf.constant(float('inf'), z.dtype)

    def step(i, x, low, high, low_residual, high_residual, side, last_step,
             _):
      log_cdf, log_sf, log_pdf = self._log_cdf_sf_pdf(x)
      residual = log_cdf - log_sf - z
      below, above = residual < 0., residual > 0.
      # Illinois: the end kept while the other is replaced twice in a row
      # counts half, so regula falsi cannot stall on it.
      again = tf.where(below, side < 0, tf.where(above, side > 0, False))
      low_residual = tf.where(below, residual, tf.where(
          again, low_residual / 2., low_residual))
      high_residual = tf.where(above, residual, tf.where(
          again, high_residual / 2., high_residual))
      side = tf.where(below, -1, tf.where(above, 1, 0))
      low, high = tf.where(below, x, low), tf.where(above, x, high)
      newton_step = residual * tf.exp(log_cdf + log_sf - log_pdf)
      newton = x - newton_step
      falsi = low - low_residual * (high - low) / (high_residual
                                                   - low_residual)
      fallback = tf.where(tf.math.is_nan(falsi), (low + high) / 2., falsi)
      # Newton must stay in the bracket and halve the last step: across a
      # steep component's S-shape it would otherwise jump back and forth.
      in_bracket = (newton >= low) & (newton <= high)
      use_newton = in_bracket & (2. * tf.abs(newton_step) <= last_step)
      # Done where logit F(x) matches z to the tolerance (as close as the
      # dtype resolves it), or where Newton's step or the bracket pins the
      # root that closely in x. Those x take only a last Newton step.
      distance = tf.minimum(tf.abs(newton_step), high - low)
      done = ((tf.abs(residual) <= self._tolerance * (1. + tf.abs(z)))
              | (distance <= self._tolerance * (1. + tf.abs(x))))
      new_x = tf.where(use_newton | (done & in_bracket), newton,
                       tf.where(done, x, fallback))
      return (i + 1, new_x, low, high, low_residual, high_residual, side,
              tf.abs(new_x - x), tf.reduce_all(done))

    outputs = tf.while_loop(
        lambda i, *state: (i < self._max_iterations) & ~state[-1],
        step, (tf.constant(0), start, low, high, unknown, unknown,
               tf.zeros(tf.shape(z), tf.int32), tf.fill(tf.shape(z), infinity),
               tf.constant(False)))
    return outputs[1]


def logistic_mixture_cdf(logits, locs, log_scales, **kwargs):
  """F itself, x -> F(x) in (0, 1), as a bijector (its inverse as above)."""
  return tfb.Chain([tfb.Sigmoid(), LogisticMixtureLogit(
      logits, locs, log_scales, **kwargs)], name='logistic_mixture_cdf')
