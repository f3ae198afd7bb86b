"""Factoring out: half the channels leave the flow at the end of a level."""

import tensorflow as tf

from tfp_invconv.bijectors import base


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
