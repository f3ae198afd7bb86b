"""Karami et al.'s layers: identity at init, vector flow, image flow."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_invconv as ti
from tfp_invconv import bijectors as tfib
from tfp_invconv import dct

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'examples'))


@pytest.mark.parametrize('make,shape', [
    (lambda: tfib.SymmetricConv((5, 6, 4)), (2, 5, 6, 4)),
    (lambda: tfib.SymmetricConv((5, 6, 4), dct_type=1), (2, 5, 6, 4)),
    (lambda: tfib.CONFCoupling(4, hidden_width=8), (2, 5, 6, 4)),
    (lambda: tfib.CONFCoupling(4, hidden_width=8, growth='power'),
     (2, 5, 6, 4)),
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


def test_pad_to_even_pads_with_accounted_noise():
  x = tf.constant([[1., 2., 6.]] * 4000)
  padded, log_noise = ti.pad_to_even(x, seed=0)
  np.testing.assert_array_equal(padded[:, :3], x)
  noise = padded[:, 3].numpy()
  assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1.) < 0.05
  np.testing.assert_allclose(log_noise,
                             -0.5 * (noise ** 2 + np.log(2 * np.pi)),
                             rtol=1e-5)
  even, zero = ti.pad_to_even(tf.zeros([2, 4]))
  assert even.shape == (2, 4) and np.all(zero.numpy() == 0.)


def test_noise_padding_gives_the_analytic_bound_of_a_correlated_joint():
  """For a joint p([x, e]) whose padding coordinate e depends on x, the
  padded estimate log p([x, e]) - log N(e; 0, 1), averaged over the noise
  pad_to_even draws, is log p(x) - KL(N(0, 1) || p(e | x)): a lower bound
  on the unpadded density, with that exact gap. A wrong noise law or a
  wrong log_noise moves the average off it."""
  scale_tril = np.array([[1., 0., 0., 0.], [0.5, 1.2, 0., 0.],
                         [-0.3, 0.4, 0.8, 0.], [0.9, -0.6, 0.5, 0.7]])
  joint = tfp.distributions.MultivariateNormalTriL(
      loc=[0.5, -1., 2., 0.3], scale_tril=scale_tril)
  points = joint.sample(3, seed=(1, 2))[:, :3].numpy()
  draws = 20000
  x = tf.constant(np.repeat(points, draws, axis=0))
  padded, log_noise = ti.pad_to_even(x, seed=3)
  estimate = (joint.log_prob(padded) - log_noise).numpy().reshape(3, draws)

  covariance = scale_tril @ scale_tril.T
  loc = np.array([0.5, -1., 2., 0.3])
  marginal = tfp.distributions.MultivariateNormalTriL(
      loc[:3], np.linalg.cholesky(covariance[:3, :3]))
  gain = covariance[3, :3] @ np.linalg.inv(covariance[:3, :3])
  mean = loc[3] + (points - loc[:3]) @ gain  # of e given x
  variance = covariance[3, 3] - gain @ covariance[:3, 3]
  kl = (0.5 * np.log(variance) + (1. + mean ** 2) / (2. * variance) - 0.5)
  bound = marginal.log_prob(points).numpy() - kl
  standard_error = estimate.std(axis=1) / np.sqrt(draws)
  np.testing.assert_array_less(np.abs(estimate.mean(axis=1) - bound),
                               4. * standard_error)
  assert (kl > 0.05).all()  # the joint is correlated enough to show a gap


@pytest.mark.slow
def test_vector_flow_fits_two_moons_and_plots(tmp_path):
  import two_moons
  model, data, losses = two_moons.train(epochs=40, samples=2000)
  assert losses[-1] < losses[0] - 0.3, losses
  path = str(tmp_path / 'moons.png')
  two_moons.plot(model, data, losses, path)
  assert os.path.getsize(path) > 10000
