"""The learned priors of a multi-scale flow: the top prior and the
conditional prior of each factored-out half."""

import tensorflow as tf

from tfp_invconv import nets
from tfp_invconv.bijectors import base
from tfp_invconv.bijectors.actnorm import ChannelAffine
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


class LearnedPrior(ChannelAffine):
  """The learned top prior N(mu, sigma) per channel, as z -> (z - mu)/sigma:
  the flow's top-level latent becomes a standard normal one.

    Forward:  u = (z + b) * s,   mu = -b, s = 1 / sigma
    Log-det:  H * W * sum_c log s_c
    Inverse:  z = u / s - b

  log s = c tanh(r / c) by default (`scale='tanh'`), so sigma stays in
  (e^-c, e^c); `scale='exp'` is Glow's log s = r. b and r start at 0.

  ```python
  prior = LearnedPrior(48)
  u = prior.forward(z)                      # z: [batch, 4, 4, 48]
  ```

  Growth bound ('tanh'): |y| <= e^c (|x| + |mu|) and |x| <= e^c |y| + |mu|.

  References:
    Kingma, Dhariwal (2018). Glow: Generative Flow with Invertible 1x1
    Convolutions. https://arxiv.org/abs/1807.03039
  """

  def __init__(self, channels, scale='tanh', log_scale_bound=LOG_SCALE_BOUND,
               dtype=tf.float32, validate_args=False, name='learned_prior'):
    parameters = dict(locals())
    if scale not in ('tanh', 'exp'):
      raise ValueError(f"scale must be 'tanh' or 'exp', got {scale!r}.")
    self._bound = float(log_scale_bound) if scale == 'tanh' else None
    super().__init__(channels, dtype, validate_args, parameters, name)

  def log_scale(self):
    if self._bound is None:
      return super().log_scale()
    return base.soft_clip(self._log_scale, self._bound)
