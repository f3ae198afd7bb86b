"""Multi-scale plumbing: the learned conditional prior and factoring out."""

import tensorflow as tf

from tfp_invconv import nets
from tfp_invconv.bijectors import base
from tfp_invconv.bijectors.coupling import AffineTransform, Coupling
from tfp_invconv.bijectors.coupling import LOG_SCALE_BOUND

PRIOR_SCALES = ('tanh', 'exp')


class ConditionalPrior(Coupling):
  """Learned prior N(mu(h), sigma(h)) of the factored-out half z given the
  kept half h, written as a two-block coupling (so the base stays a
  standard normal) whose conditioner is one zero-initialised conv3x3:

    Forward:  [h, z] -> [h, (z - mu(h)) / sigma(h)]
    Log-det:  -sum log sigma(h)
    Inverse:  [h, u] -> [h, u * sigma(h) + mu(h)]

  `scale`: 'tanh' (default; log(1 / sigma) = c tanh(r / c) with
  c = `log_scale_bound`) or 'exp' (Glow's unbounded sigma = exp(-r)).

  ```python
  prior = ConditionalPrior(12)
  u = prior.forward(x)          # x: [batch, H, W, 12]; channels 6.. scored
  ```

  Growth bound ('tanh'): |u| <= e^c (|z| + |mu|) and |z| <= e^c |u| + |mu|.

  References:
    Dinh, Sohl-Dickstein, Bengio (2017). Density estimation using Real NVP,
    §3.6. https://arxiv.org/abs/1605.08803
  """

  def __init__(self, channels, scale='tanh', log_scale_bound=LOG_SCALE_BOUND,
               dtype=tf.float32, validate_args=False,
               name='conditional_prior'):
    parameters = dict(locals())
    if scale not in PRIOR_SCALES:
      raise ValueError(f'scale must be one of {PRIOR_SCALES}, got {scale!r}.')
    make_net = lambda c_in, c_out, net_name: nets.zero_conv(
        c_in, c_out, dtype=dtype, name=net_name)
    super().__init__(channels, 2, AffineTransform(scale, log_scale_bound),
                     make_net,
                     dtype=dtype, validate_args=validate_args, name=name,
                     parameters=parameters)


class FactorOut(base.ShapeChangeMixin, base.FlowBijectorBase):
  """Factors out the second half of the channels into the flat latent: z
  goes straight to the latent, h through `inner` (the rest of the flow,
  itself ending in a flat latent).

    Forward:  [h, z] -> concat(flatten(z), inner(h))
    Log-det:  log-det of inner at h
    Inverse:  split the latent, x = [inner^-1(.), z]

  ```python
  inner = tfb.Chain([tfb.Reshape([48], [4, 6, 2]), CInCConv2D(2)])
  factor_out = FactorOut((4, 6, 4), inner)    # [.., 4, 6, 4] -> [.., 96]
  ```

  Growth bound: the factored half passes unchanged; the kept half grows as
  the inner flow allows.

  References:
    Dinh, Sohl-Dickstein, Bengio (2017). Density estimation using Real NVP,
    §3.6. https://arxiv.org/abs/1605.08803
  """

  def __init__(self, image_shape, inner, dtype=tf.float32,
               validate_args=False, name='factor_out'):
    parameters = dict(locals())
    height, width, channels = (int(d) for d in image_shape)
    if channels % 2:
      raise ValueError(f'FactorOut needs an even channel count; got image '
                       f'shape {tuple(image_shape)}.')
    self._kept = channels // 2
    self._inner = inner
    self._factored_size = height * width * (channels - self._kept)
    inner_size = inner.forward_event_shape([height, width, self._kept])
    self._latent_size = self._factored_size + inner_size.num_elements()
    super().__init__(event_shape_in=[height, width, channels],
                     inverse_min_event_ndims=1, dtype=dtype,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  @property
  def inner_bijectors(self):
    return (self._inner,)

  @property
  def event_shape_out(self):
    return tf.TensorShape([self._latent_size])

  def _forward_and_log_det(self, x):
    kept, factored = x[..., :self._kept], x[..., self._kept:]
    latent = self._inner.forward(kept)
    log_det = self._inner.forward_log_det_jacobian(kept, event_ndims=3)
    flat = tf.reshape(factored, [-1, self._factored_size])
    return tf.concat([flat, latent], axis=-1), log_det

  def _inverse_and_log_det(self, y):
    flat, latent = y[:, :self._factored_size], y[:, self._factored_size:]
    kept = self._inner.inverse(latent)
    log_det = self._inner.inverse_log_det_jacobian(latent, event_ndims=1)
    factored = tf.ensure_shape(tf.reshape(flat, tf.shape(kept)), kept.shape)
    return tf.concat([kept, factored], axis=-1), log_det
