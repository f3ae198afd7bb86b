"""CInCConv2D: its centre parametrisations and its exact inverse at scale."""

import numpy as np
import tensorflow as tf

from tfp_invconv import solvers
from tfp_invconv.bijectors import CInCConv2D
from tfp_invconv.bijectors import Invertible1x1Conv
from tests import helpers


def test_cinc_round_trip_at_cifar_scale_is_at_float32_round_off():
  """100 x 32 x 32 x 12, off-centre taps of std 0.1, unit-scale inputs.

  Round-trip error in float32 is bounded below by the conditioning of the
  convolution: the float32 rounding of y amplified by the inverse, which
  depends on the kernel draw (1e-5 to 1e-2 for kernels of this law). What the
  solver controls is its own share: it must stay within a small factor of
  an exact (float64) solve of the same float32 y.
  """
  layer = CInCConv2D(12, kernel_stddev=0.1)
  x = tf.random.stateless_normal([100, 32, 32, 12], seed=[0, 1])
  y = layer.forward(x)
  x_back = layer.inverse(tf.identity(y))
  error = float(tf.reduce_max(tf.abs(x_back - x)))

  kernel64 = tf.cast(layer.effective_kernel(), tf.float64)
  centre_inverse = tf.linalg.inv(kernel64[2, 2])
  exact = solvers.wavefront_solve(tf.cast(y, tf.float64), kernel64,
                                  centre_inverse)
  floor = float(tf.reduce_max(tf.abs(exact - tf.cast(x, tf.float64))))
  assert error <= max(4 * floor, 1e-6), (error, floor)


def test_lu_centre_without_off_centre_taps_is_glows_1x1():
  conv = CInCConv2D(4, centre='lu', dtype=tf.float64)
  conv.trainable_variables[0].assign(tf.zeros_like(conv.trainable_variables[0]))
  one_by_one = Invertible1x1Conv(4, dtype=tf.float64)
  for name in ('permutation', 'lower', 'upper', 'log_s', 'sign_s'):
    _weight(one_by_one, name).assign(_weight(conv, name))
  x = np.random.default_rng(0).normal(size=(2, 5, 6, 4))
  np.testing.assert_allclose(conv.forward(x), one_by_one.forward(x),
                             atol=1e-12)
  np.testing.assert_allclose(conv.forward_log_det_jacobian(x, 3),
                             one_by_one.forward_log_det_jacobian(x, 3),
                             atol=1e-12)


def test_lu_centre_starts_as_a_rotation_and_restores_exactly():
  conv = CInCConv2D(6, centre='lu', dtype=tf.float64)
  centre = conv.effective_kernel()[2, 2].numpy()
  np.testing.assert_allclose(centre @ centre.T, np.eye(6), atol=1e-12)
  assert np.abs(centre - np.diag(np.diag(centre))).max() > 0.1  # mixes
  restored = CInCConv2D(6, centre='lu', dtype=tf.float64)
  layer, = restored.keras_layers
  layer.set_weights(conv.keras_layers[0].get_weights())
  np.testing.assert_array_equal(restored.effective_kernel(),
                                conv.effective_kernel())


def test_triangular_centre_masks_the_lower_triangle():
  conv = CInCConv2D(4, centre='triangular', dtype=tf.float64)
  helpers.perturb_weights(conv)
  centre = conv.effective_kernel()[2, 2].numpy()
  np.testing.assert_array_equal(np.tril(centre, -1), 0.)


def _weight(bijector, name):
  layer, = bijector.keras_layers
  return next(w for w in layer.weights if w.name == name)
