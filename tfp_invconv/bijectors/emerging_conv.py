"""Emerging convolution: two autoregressive convolutions with 2 x 2 taps."""

import tensorflow as tf

from tfp_invconv.bijectors import base
from tfp_invconv.bijectors.cinc_conv import CInCConv2D


class EmergingConv2D(base.FlowBijectorBase):
  """Emerging convolution = two masked 2 x 2-tap convolutions.

  Hoogeboom, van den Berg & Welling (2019), "Emerging Convolutions for
  Generative Normalizing Flows". The first convolution K1 looks down/right
  (bottom/right padding), the second K2 looks up/left (top/left padding); each
  has a triangular centre tap with opposite channel orders, so the composition
  has a full k = 3 receptive field:

    Forward:  y = conv_K2(conv_K1(x))
    Log-det:  H * W * (sum_c log|diag K1_c| + sum_c log|diag K2_c|)
    Inverse:  two exact triangular solves, in opposite directions.

  Each factor is a 2 x 2 `CInCConv2D` with a triangular centre (its
  bottom-right mirror for K1).

  ```python
  conv = EmergingConv2D(12)
  z = conv.forward(x)                # x: [B, H, W, 12]
  x_again = conv.inverse(z)          # two triangular solves
  ```

  Growth bound: that of its two `CInCConv2D` factors composed (linear
  forward; a triangular solve each way back, with |log diag| <= 10).

  References:
    Hoogeboom, van den Berg, Welling (2019). Emerging Convolutions for
    Generative Normalizing Flows. https://arxiv.org/abs/1901.11137
  """

  def __init__(self, channels, solver='auto', dtype=tf.float32,
               validate_args=False, name='emerging_conv2d'):
    parameters = dict(locals())
    common = dict(kernel_size=2, centre='triangular', solver=solver,
                  dtype=dtype, validate_args=validate_args)
    self.down_right = CInCConv2D(channels, corner='bottom_right',
                                 name=f'{name}_k1', **common)
    self.up_left = CInCConv2D(channels, corner='top_left', name=f'{name}_k2',
                              **common)
    super().__init__(event_shape_in=[None, None, channels],
                     layers=self.down_right.keras_layers
                     + self.up_left.keras_layers,
                     is_constant_jacobian=True, dtype=dtype, validate_args=validate_args,
                     parameters=parameters, name=name)

  def _forward_and_log_det(self, x):
    h, log_det_1 = self.down_right._forward_and_log_det(x)
    y, log_det_2 = self.up_left._forward_and_log_det(h)
    return y, log_det_1 + log_det_2

  def _inverse_and_log_det(self, y):
    h, log_det_2 = self.up_left._inverse_and_log_det(y)
    x, log_det_1 = self.down_right._inverse_and_log_det(h)
    return x, log_det_1 + log_det_2
