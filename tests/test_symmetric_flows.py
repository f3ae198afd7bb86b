"""Karami et al.'s layers: identity at init, vector flow, image flow."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

import tfp_invconv as ti
from tfp_invconv import bijectors as tfib
from tfp_invconv import dct

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'examples'))


@pytest.mark.parametrize('make,shape', [
    (lambda: tfib.SymmetricConv((5, 6, 4)), (2, 5, 6, 4)),
    (lambda: tfib.SymmetricConv((5, 6, 4), dct_type=1), (2, 5, 6, 4)),
    (lambda: tfib.CONFCoupling(4, hidden_width=8), (2, 5, 6, 4)),
    (lambda: tfib.CONFCoupling(6, hidden_width=8, event_rank=1), (2, 6)),
])
def test_identity_at_initialisation(make, shape):
  bijector = make()
  x = tf.random.normal(shape)
  np.testing.assert_allclose(bijector.forward(x), x, atol=1e-5)
  np.testing.assert_allclose(
      bijector.forward_log_det_jacobian(x, len(shape) - 1), 0., atol=1e-5)


@pytest.mark.parametrize('dct_type', [1, 2])
def test_dct_matrices_match_tf_signal(dct_type):
  x = tf.random.normal([3, 7], dtype=tf.float64)
  norm = 'ortho' if dct_type == 2 else None
  expected = tf.signal.dct(x, type=dct_type, norm=norm)
  np.testing.assert_allclose(dct.transform(x, dct_type, event_rank=1),
                             expected, atol=1e-12)
  np.testing.assert_allclose(
      dct.transform(expected, dct_type, event_rank=1, inverse=True), x,
      atol=1e-12)


def test_symmetric_conv_is_a_symmetric_convolution():
  """Its Jacobian is symmetric (a symmetric filter), eigenvalues = w."""
  layer = tfib.SymmetricConv((6,), dtype=tf.float64)
  layer.trainable_variables[0].assign(
      np.random.default_rng(0).normal(size=6))
  matrix = np.stack([layer.forward(e).numpy() for e in np.eye(6)])
  np.testing.assert_allclose(matrix, matrix.T, atol=1e-12)
  np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(matrix)),
                             np.sort(np.exp(layer.trainable_variables[0])),
                             rtol=1e-10)


def test_pad_to_even_appends_the_example_mean():
  x = tf.constant([[1., 2., 6.]])
  np.testing.assert_allclose(ti.pad_to_even(x), [[1., 2., 6., 3.]])
  assert ti.pad_to_even(tf.zeros([2, 4])).shape == (2, 4)
  with pytest.raises(ValueError, match='even feature count'):
    ti.SymmetricConvVectorFlow(3)


@pytest.mark.slow
def test_vector_flow_fits_two_moons_and_plots(tmp_path):
  import two_moons
  model, data, losses = two_moons.train(epochs=40, samples=2000)
  assert losses[-1] < losses[0] - 0.3, losses
  path = str(tmp_path / 'moons.png')
  two_moons.plot(model, data, losses, path)
  assert os.path.getsize(path) > 10000
