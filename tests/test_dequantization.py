"""Dequantization: the variational q(u | k) and the likelihood bound."""

import math

import numpy as np
import pytest
import keras
import tensorflow as tf
from sklearn.datasets import load_digits

import tfp_invconv as ti
from tfp_invconv.dequantization import VariationalDequantizer
from tfp_invconv.model import FlowModel
from tests import helpers


def _digits(n):
  return load_digits().images[:n].astype(np.uint8)[..., None]


def _perturbed_dequantizer(dtype='float64'):
  dequantizer = VariationalDequantizer((4, 6, 2), hidden_width=8, steps=3,
                                       dtype=dtype)
  rng = np.random.default_rng(0)
  for w in dequantizer.weights:
    w.assign(w + rng.normal(0., 0.2, w.shape))
  return dequantizer


def test_log_q_matches_the_dense_jacobian():
  dequantizer = _perturbed_dequantizer()
  rng = np.random.default_rng(1)
  eps = rng.normal(size=(2, 4, 6, 2))
  k = tf.constant(rng.uniform(-0.5, 0.5, (2, 4, 6, 2)))
  u, log_q = dequantizer.transform(tf.constant(eps), k)
  assert np.all((u.numpy() > 0) & (u.numpy() < 1))
  log_det = helpers.dense_log_det(lambda e: dequantizer.transform(e, k)[0],
                                  eps)
  log_normal = -0.5 * np.sum(eps ** 2 + math.log(2 * math.pi), axis=(1, 2, 3))
  np.testing.assert_allclose(log_q, log_normal - log_det, atol=1e-6)


def _log_mean_exp(values):
  return float(tf.reduce_logsumexp(values) - math.log(len(values)))


@pytest.mark.parametrize('noise', ['uniform', 'variational'])
def test_bound_lies_below_the_discrete_log_likelihood(noise):
  """E_q[log p(x) - log q(u|k)] - D log L <= log P(k), for uniform and learned q.

  log P(k) = log E_u[p(x)] - D log L with u ~ U[0,1)^D is estimated by
  importance sampling with the uniform proposal (low variance here: p varies
  little inside one bin). The reported bits/dim must be the bound itself.
  """
  keras.utils.set_random_seed(0)
  flow = ti.CInCFlow((8, 8, 1), levels=1, depth=1, hidden_width=8,
                     dtype=tf.float64)
  helpers.perturb_weights(flow, stddev=0.05)
  dequantizer = VariationalDequantizer((8, 8, 1), hidden_width=8, steps=2,
                                       dtype='float64')
  for w in dequantizer.weights:
    w.assign(w + np.random.default_rng(2).normal(0., 0.05, w.shape))
  model = FlowModel(flow, num_levels=17, dequantizer=dequantizer)
  pixels = np.repeat(_digits(1), 2000, axis=0)

  def log_weights(kind):
    x, log_q = model.dequantize_with_log_q(pixels, kind)
    return model.log_prob(x) - log_q - 64 * math.log(17)

  uniform = log_weights('uniform')
  log_likelihood = float(tf.reduce_logsumexp(uniform)) - math.log(len(uniform))
  spread = float(tf.math.reduce_std(uniform))
  assert spread < 1.  # the uniform estimate above is reliable

  chosen = uniform if noise == 'uniform' else log_weights(noise)
  bound = float(tf.reduce_mean(chosen))
  assert bound <= log_likelihood + 0.05
  # bits_per_dim draws fresh noise: equal to -bound / (D ln 2) up to the
  # Monte Carlo error of two means of 2000 draws.
  bits = 64 * math.log(2)
  bpd = model.bits_per_dim(pixels, noise).numpy()
  error = 4 * float(tf.math.reduce_std(chosen)) / bits * math.sqrt(2 / 2000)
  assert abs(bpd.mean() - (-bound / bits)) < error


@pytest.mark.slow
def test_variational_dequantization_trains_jointly():
  flow = ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=16)
  dequantizer = VariationalDequantizer((8, 8, 1), hidden_width=16, steps=2)
  model = FlowModel(flow, num_levels=17, dequantizer=dequantizer)
  assert model.noise == 'variational'
  names = {id(w) for w in model.trainable_weights}
  assert all(id(w) in names for w in dequantizer.trainable_weights)
  data = tf.data.Dataset.from_tensor_slices(_digits(256)).batch(64)
  model.compile(optimizer=keras.optimizers.Adam(2e-3))
  before = dequantizer.step_nets[0].weights[-2].numpy().copy()
  history = model.fit(data, epochs=4, verbose=0)
  assert history.history['bpd'][-1] < history.history['bpd'][0] - 0.2
  assert not np.array_equal(before, dequantizer.step_nets[0].weights[-2])
