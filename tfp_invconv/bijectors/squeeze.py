"""Squeeze: 2 x 2 space-to-depth (Dinh et al. 2017, RealNVP §3.6)."""

import tensorflow as tf

from tfp_invconv.bijectors import base


class Squeeze(base.ShapeChangeMixin, base.FlowBijectorBase):
  """Space-to-depth with block size `factor` (a volume-preserving permutation).

  Forward:  [H, W, C] -> [H/2, W/2, 4C], each 2 x 2 block to channels
  Log-det:  0 (a permutation)
  Inverse:  depth-to-space

  ```python
  squeeze = Squeeze((32, 32, 3))
  z = squeeze.forward(x)             # [B, 32, 32, 3] -> [B, 16, 16, 12]
  ```

  Growth bound: a permutation, |y| = |x| both ways.

  References:
    Dinh, Sohl-Dickstein, Bengio (2017). Density estimation using Real NVP.
    https://arxiv.org/abs/1605.08803
  """

  def __init__(self, image_shape, factor=2, dtype=tf.float32,
               validate_args=False, name='squeeze'):
    parameters = dict(locals())
    height, width, channels = (int(d) for d in image_shape)
    if height % factor or width % factor:
      raise ValueError(
          f'Squeeze by {factor} needs height and width divisible by '
          f'{factor}; got image shape {tuple(image_shape)}.')
    self._factor = factor
    self._shape_out = tf.TensorShape(
        [height // factor, width // factor, channels * factor ** 2])
    super().__init__(event_shape_in=[height, width, channels],
                     is_constant_jacobian=True, dtype=dtype,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  @property
  def event_shape_out(self):
    return self._shape_out

  def _forward_and_log_det(self, x):
    y = tf.nn.space_to_depth(x, self._factor)
    return y, tf.zeros([tf.shape(x)[0]], x.dtype)

  def _inverse_and_log_det(self, y):
    x = tf.nn.depth_to_space(y, self._factor)
    return x, tf.zeros([tf.shape(y)[0]], y.dtype)
