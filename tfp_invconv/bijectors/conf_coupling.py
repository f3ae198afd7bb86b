"""CONF: the combined convolution-multiplication coupling."""

import math

import keras
import tensorflow as tf

from tfp_invconv import dct
from tfp_invconv import nets
from tfp_invconv.bijectors import base
from tfp_invconv.bijectors import slog
from tfp_invconv.bijectors.coupling import Coupling

LOG_SCALE_BOUND = 3.   # of the spectra w
GROWTHS = ('bounded', 'power')
MIN_SCALE = 0.05

def _log_bounded_unit(raw, max_scale, min_scale=0.):
  """log(m + (M - m) sigmoid(raw + c)): in (log m, log M], 0 at raw = 0."""
  share = (1. - min_scale) / (max_scale - min_scale)
  offset = math.log(share / (1. - share))
  if not min_scale:
    return tf.math.log_sigmoid(raw + offset) + math.log(max_scale)
  return tf.math.log(min_scale + (max_scale - min_scale)
                     * tf.sigmoid(raw + offset))


class CONFTransform:
  """`bijector_fn` of CONF: the m combined sub-layers plus the shift t, for
  one block of channels, from the conditioner's output (`CONFLayers`). The
  S-Log slopes a and a'/a are weights of its own."""

  def __init__(self, channels, num_layers, event_rank, dct_type, max_scale,
               dtype, name, growth='bounded'):
    if growth not in GROWTHS:
      raise ValueError(f'growth must be one of {GROWTHS}, got {growth!r}.')
    self.name = name
    self.num_layers = num_layers
    self.max_scale = max_scale
    self.growth = growth
    self.num_params = 2 * num_layers + 1   # (w, s) per sub-layer, then t
    self.event_rank = event_rank
    self.dct_type = dct_type
    layer = keras.layers.Layer(name=f'{name}_slog', dtype=dtype)
    initial = tf.fill([num_layers, channels], slog.raw_alpha(1.))
    self._raw_alpha = base.assign_weight(layer, 'raw_alpha',
                                         [num_layers, channels], initial)
    self._raw_ratio = base.assign_weight(layer, 'raw_alpha_ratio',
                                         [num_layers, channels])
    self.keras_layers = [layer]

  def conditioner_outputs(self, channels):
    return self.num_params * channels

  def __call__(self, params):
    pieces = tf.split(params, self.num_params, axis=-1)
    # Log-scales soft-clipped to (-3, 3): keeps exp() and S-Log finite.
    log_w = [base.soft_clip(p, LOG_SCALE_BOUND) for p in pieces[0:-1:2]]
    log_s = [self.log_scale(p) for p in pieces[1:-1:2]]
    return CONFLayers(self, log_w, log_s, pieces[-1])

  def log_scale(self, raw):
    """log s, or log a'/a, from its raw value."""
    floor = MIN_SCALE if self.growth == 'bounded' else 0.
    return _log_bounded_unit(raw, self.max_scale, floor)

  def slopes(self, i):
    """a and a' of sub-layer i."""
    alpha = slog.alpha_of(self._raw_alpha[i])
    return alpha, alpha * tf.exp(self.log_scale(self._raw_ratio[i]))

  def filter(self, v, log_w):
    return dct.filter_in_frequency(v, tf.exp(log_w), self.dct_type,
                                   self.event_rank)


class CONFLayers(base.OnePassBijector):
  """The m CONF sub-layers and the shift of one block, with their spectra
  log w, log-scales log s and shift t given (module docstring):

    Forward:  (f^(1) o ... o f^(m))(x) + t
    Log-det:  sum over sub-layers of
              sum log|w| + sum log f_a'(u) + sum log|s| + sum log g_a''(b)
    Inverse:  v = y - t, then each sub-layer undone in reverse order.

  Growth bound: that of `CONFCoupling`, per block.
  """

  def __init__(self, transform, log_w, log_s, shift, validate_args=False,
               name='conf_layers'):
    parameters = dict(locals())
    self._transform = transform
    self._log_w, self._log_s, self._shift = log_w, log_s, shift
    super().__init__(forward_min_event_ndims=transform.event_rank,
                     dtype=shift.dtype, validate_args=validate_args,
                     parameters=parameters, name=name)

  @property
  def log_w(self):
    """The sub-layers' log-spectra, [m, ..., C]."""
    return tf.stack(self._log_w)

  @property
  def log_s(self):
    """The sub-layers' log-scales, [m, ..., C]."""
    return tf.stack(self._log_s)

  def _forward_and_log_det(self, x):
    transform, v, log_det = self._transform, x, 0.
    for i in reversed(range(transform.num_layers)):  # f^(m) acts first
      alpha, alpha_out = transform.slopes(i)
      u = transform.filter(v, self._log_w[i])
      b = tf.exp(self._log_s[i]) * slog.slog(u, alpha)
      v = slog.slog_inverse(b, alpha_out)
      log_det += self._log_det(i, u, b, alpha, alpha_out)
    return v + self._shift, log_det

  def _inverse_and_log_det(self, y):
    transform, v, log_det = self._transform, y - self._shift, 0.
    for i in range(transform.num_layers):
      alpha, alpha_out = transform.slopes(i)
      b = slog.slog(v, alpha_out)
      u = slog.slog_inverse(b * tf.exp(-self._log_s[i]), alpha)
      v = transform.filter(u, -self._log_w[i])
      log_det -= self._log_det(i, u, b, alpha, alpha_out)
    return v, log_det

  def _log_det(self, i, u, b, alpha, alpha_out):
    elementwise = (self._log_w[i] + slog.slog_log_derivative(u, alpha)
                   + self._log_s[i]
                   + slog.slog_inverse_log_derivative(b, alpha_out))
    return base.sum_per_example(elementwise)


class CONFCoupling(Coupling):
  """Two-block coupling whose inner transform is m CONF sub-layers.

  Karami et al. (2019), "Invertible Convolutional Flow", eqs. 4-5. One
  sub-layer, with every parameter but the S-Log slopes from the conditioner:

    f_{w,s}(x2; x1) = g_a'( s(x1) * f_a( w(x1) (*) x2 ) ),   g_a' = f_a'^-1

  where w (*) is the DCT-diagonal symmetric convolution with spectrum w(x1)
  (`dct.filter_in_frequency`) and f_a the S-Log gate. The coupling is

    Forward:  y1 = x1,  y2 = (f^(1) o ... o f^(m))(x2; x1) + t(x1)
    Log-det:  sum over sub-layers of
              sum log|w| + sum log f_a'(u) + sum log|s| + sum log g_a''(b)
              (u = w (*) v, b = s * f_a(u); log g_a''(b) = a'|b| inside
              the S-Log's linear tails, `slog.py`)
    Inverse:  v = y2 - t(x1), then each sub-layer undone in reverse order.

  Growth control. g_a'(s f_a(u)) = ((1 + a|u|)^p - 1) / a' with the exponent
  p = s a'/a. Where p > 1 a sub-layer grows like |u|^p, and the m sub-layers
  of a coupling compound that: with s and a'/a free, training on MNIST blew up
  (bits/dim of 1e26 at step 109 of the conf_demo preset), and with both
  bounded by 1.135 a long run still overflowed on a few images.

  growth='bounded' (the default) keeps s and a'/a in (`MIN_SCALE`, M] with
  M = `max_scale` (1.135): s = m + (M - m) sigmoid(r + c), with c such that
  s = 1 at r = 0 (the coupling starts as the exact identity), and the same
  for a'/a. So p = s a'/a is in (m^2, M^2) = (0.0025, 1.29), and neither s
  nor a' ever reaches 0. The S-Log gates continue linearly beyond
  a|x| = K = 1000 (`slog.py`), so each sub-layer is linear for large inputs
  in both directions:

    normalizing:  |v| = ((1 + a|u|)^p - 1) / a', a power p < 1.29 of |u|,
                  while a|u| <= K and a'|b| <= log(1 + K); linear beyond
    generative:   |u| <= (K + (1 + K) a|v| / m) / a beyond the tails: linear
                  with a slope at most (1 + K) / m

  and ||w (*) v||_2 <= e^3 ||v||_2 (log w soft-clipped to (-3, 3), an
  orthonormal DCT). Measured on MNIST (`python -m benchmarks.quality
  --datasets mnist --models conf --steps 1500`, README): bounding the
  exponent p by 1 cost 0.73 bits/dim, a symmetric bound (1/M, M) on s and
  a'/a 0.1 to 0.36, the floor m nothing measurable: the couplings use small
  s and a'/a to compress.

  growth='power' is the earlier parametrisation, kept so that models trained
  with it load: the same with m = 0, so a' -> 0 can divide by 0.

  ```python
  coupling = CONFCoupling(12, hidden_width=256, num_layers=2)
  z = coupling.forward(x)            # x: [B, H, W, 12]
  ```

  Growth bound (growth='bounded'): normalizing, each sub-layer grows at
  most like a power M^2 = 1.29 of its input (M = `max_scale`) up to the
  S-Log's tail at a|x| = 1000 and linearly beyond; generative, linearly
  beyond the tails with a slope at most 1001 / 0.05; the spectra
  |log w| < 3 (module docstring).

  References:
    Karami, Schuurmans, Sohl-Dickstein, Dinh, Duckworth (2019). Invertible
    Convolutional Flow. NeurIPS 2019.
  """

  def __init__(self, channels, hidden_width=512, num_layers=2, dct_type=2,
               event_rank=3, growth='bounded', max_scale=1.135,
               context_features=0,
               activation='relu', dtype=tf.float32, validate_args=False,
               name='conf_coupling'):
    """Creates the coupling.

    Args:
      channels: C (images, event_rank 3) or D (vectors, event_rank 1); even.
      hidden_width: width of the shared conditioner (Glow's conv net for
        images, a two-layer MLP for vectors).
      num_layers: m, the number of combined sub-layers.
      dct_type: 2 (orthonormal DCT-II) or 1 (DCT-I).
      event_rank: 3 or 1.
      growth: 'bounded' (default: s and a'/a in (0.05, max_scale], see
        the module docstring) or 'power' (the earlier s, a'/a in
        (0, max_scale]).
      max_scale: the bound M > 1 on s and a'/a; each sub-layer grows at
        most like |u|^(M^2) (and |v|^(M^2) back) before the S-Log's linear
        tails.
      context_features: K > 0 for a conditional coupling (vectors): the
        conditioner also sees `context` (see `Coupling`).
      activation: the conditioner's hidden activation (a Keras name). A
        smooth one ('elu', 'softplus') keeps units from dying, which ReLU
        conditioners of amortised posteriors were measured to do.
      dtype, validate_args, name: as for every bijector here.
    """
    parameters = dict(locals())
    if event_rank not in (1, 3):
      raise ValueError(f'event_rank must be 1 or 3, got {event_rank}.')
    net = nets.glow_conditioner if event_rank == 3 else nets.mlp_conditioner
    make_net = lambda c_in, c_out, net_name: net(
        c_in, c_out, hidden_width, dtype=dtype, name=net_name,
        activation=activation)
    transform = CONFTransform(channels // 2, num_layers, event_rank, dct_type,
                              max_scale, dtype, name, growth)
    super().__init__(channels, 2, transform, make_net, event_rank=event_rank,
                     context_features=context_features, dtype=dtype,
                     validate_args=validate_args, name=name,
                     parameters=parameters)
