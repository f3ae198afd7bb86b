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


def _perturbed_dequantizer(base, dtype='float64'):
  dequantizer = VariationalDequantizer((4, 6, 2), hidden_width=8, steps=3,
                                       base=base, dtype=dtype)
  rng = np.random.default_rng(0)
  for w in dequantizer.weights:
    w.assign(w + rng.normal(0., 0.2, w.shape))
  return dequantizer


def _base_draws(base, rng, shape):
  """Draws of eps and their log density, summed per example."""
  if base == 'gaussian':
    eps = rng.normal(size=shape)
    log_density = -0.5 * (eps ** 2 + math.log(2 * math.pi))
  else:
    eps = rng.logistic(size=shape)
    log_density = -eps - 2 * np.logaddexp(0., -eps)
  return eps, np.sum(log_density, axis=tuple(range(1, len(shape))))


@pytest.mark.parametrize('base', ['logistic', 'gaussian'])
def test_log_q_matches_the_dense_jacobian(base):
  dequantizer = _perturbed_dequantizer(base)
  rng = np.random.default_rng(1)
  eps, log_base = _base_draws(base, rng, (2, 4, 6, 2))
  k = tf.constant(rng.uniform(-0.5, 0.5, (2, 4, 6, 2)))
  u, log_q = dequantizer.transform(tf.constant(eps), k)
  assert np.all((u.numpy() > 0) & (u.numpy() < 1))
  log_det = helpers.dense_log_det(lambda e: dequantizer.transform(e, k)[0],
                                  eps, per_example_state=True)
  np.testing.assert_allclose(log_q, log_base - log_det, atol=1e-6)


def test_a_new_dequantizer_is_uniform_dequantization():
  """The logistic base through identity couplings: u = sigmoid(eps) is
  uniform and log q = 0, so the variational bound starts at uniform's."""
  dequantizer = VariationalDequantizer((4, 6, 2), hidden_width=8, steps=3)
  eps, _ = _base_draws('logistic', np.random.default_rng(1), (2, 4, 6, 2))
  k = np.random.default_rng(2).uniform(-0.5, 0.5, (2, 4, 6, 2))
  u, log_q = dequantizer.transform(tf.constant(eps, tf.float32),
                                   tf.constant(k, tf.float32))
  np.testing.assert_allclose(u, 1. / (1. + np.exp(-eps)), rtol=1e-5)
  np.testing.assert_allclose(log_q, 0., atol=1e-4)
  drawn, log_q = dequantizer.sample(tf.zeros([4000, 4, 6, 2]))
  np.testing.assert_allclose(log_q, 0., atol=1e-4)
  # Uniform on (0, 1): every decile holds a tenth of the draws.
  deciles = np.histogram(drawn.numpy(), bins=10, range=(0., 1.))[0]
  np.testing.assert_allclose(deciles / drawn.numpy().size, 0.1, atol=0.003)


def test_dequantizers_saved_before_the_logistic_base_load_as_gaussian():
  config = VariationalDequantizer((4, 6, 2)).get_config()
  assert config['base'] == 'logistic'
  del config['base']
  assert VariationalDequantizer.from_config(config).base == 'gaussian'
  with pytest.raises(ValueError, match='base must be one of'):
    VariationalDequantizer((4, 6, 2), base='normal')


def _diagonal_gaussian_model(dequantizer=None):
  """A FlowModel whose density is a product of per-pixel Gaussians with
  known means and scales: every layer is set to a per-channel affine map
  (no off-centre taps, constant coupling scale, random ActNorm and prior)."""
  keras.utils.set_random_seed(0)
  flow = ti.CInCFlow((8, 8, 1), levels=1, depth=2, hidden_width=8,
                     centre='triangular', dtype=tf.float64)
  rng = np.random.default_rng(3)
  for v in flow.trainable_variables:
    name = v.name.split('/')[-1].split(':')[0]
    if name in ('bias', 'log_scale', 'log_diag'):
      v.assign(rng.normal(0., 0.3, v.shape))
    elif name == 'kernel' and v.shape.rank == 4 and v.shape[0] == 3:
      v.assign(tf.zeros_like(v))  # CInC taps: the layer is diagonal
  model = FlowModel(flow, num_levels=17, dequantizer=dequantizer)
  mean = flow.forward(tf.zeros([1, 64], tf.float64))[0].numpy()
  scale = flow.forward(tf.ones([1, 64], tf.float64))[0].numpy() - mean
  return model, mean, scale


def _gaussian_log_density(x, mean, scale):
  return np.sum(-0.5 * np.log(2 * math.pi * scale ** 2)
                - (x - mean) ** 2 / (2 * scale ** 2), axis=(1, 2, 3))


def _bin_edges(pixels, levels=17):
  return pixels / levels - 0.5, (pixels + 1.) / levels - 0.5


def _exact_log_probability(pixels, mean, scale):
  """log P(k) = sum_d log [Phi((b_d - m_d)/s_d) - Phi((a_d - m_d)/s_d)]."""
  from scipy.special import log_ndtr
  low, high = _bin_edges(pixels.astype(np.float64))
  a, b = (low - mean) / np.abs(scale), (high - mean) / np.abs(scale)
  upper = np.where(b > -a, -a, b)  # integrate on the side of smaller tails
  lower = np.where(b > -a, -b, a)
  log_mass = log_ndtr(upper) + np.log1p(-np.exp(log_ndtr(lower) -
                                                log_ndtr(upper)))
  return np.sum(log_mass, axis=(1, 2, 3))


def _exact_uniform_bound(pixels, mean, scale):
  """E_u[log p((k + u)/L - 0.5)] - D log L with u ~ U[0, 1)^D."""
  low, high = _bin_edges(pixels.astype(np.float64))
  second_moment = ((high - mean) ** 3 - (low - mean) ** 3) / (
      3 * (high - low))
  return np.sum(-0.5 * np.log(2 * math.pi * scale ** 2)
                - second_moment / (2 * scale ** 2), axis=(1, 2, 3)) - (
                    64 * math.log(17))


def test_analytic_oracle_is_the_model_density():
  model, mean, scale = _diagonal_gaussian_model()
  x = np.random.default_rng(4).uniform(-0.5, 0.5, (3, 8, 8, 1))
  np.testing.assert_allclose(model.log_prob(x),
                             _gaussian_log_density(x, mean, scale),
                             rtol=1e-10)
  assert np.std(scale) > 0.05 and np.std(mean) > 0.05  # a non-trivial oracle


def test_bits_per_dim_matches_the_closed_form_bounds():
  """Uniform noise: the reported bits/dim is, on average over the noise,
  the closed-form bound E_u[-log p((k + u)/L - 1/2)]; bin centres give the
  density at the centres."""
  model, mean, scale = _diagonal_gaussian_model()
  pixels = _digits(4)
  bits = 64 * math.log(2)
  bound = -_exact_uniform_bound(pixels, mean, scale) / bits
  draws = _repeated_bits_per_dim(model, pixels, 'uniform', 400)
  error = 4 * draws.std(0) / math.sqrt(len(draws))
  np.testing.assert_array_less(np.abs(draws.mean(0) - bound), error)

  centres = (pixels + 0.5) / 17 - 0.5
  np.testing.assert_allclose(
      model.bits_per_dim(pixels, 'center'),
      -_gaussian_log_density(centres, mean, scale) / bits + math.log2(17),
      rtol=1e-10)


@pytest.mark.parametrize('base', ['logistic', 'gaussian'])
def test_variational_bits_per_dim_agrees_with_an_independent_estimate(base):
  """The model's variational bits/dim and an estimate built here from the
  dequantizer's transform and the analytic density, -E_q[log p((k + u)/L -
  1/2) - log q(u | k)], agree on average, both ways; leaving log q out
  would move the model's by more than the tolerance (checked)."""
  dequantizer = _perturbed_dequantizer_for((8, 8, 1), base)
  model, mean, scale = _diagonal_gaussian_model(dequantizer)
  pixels = _digits(4)
  count = 300
  draws = _repeated_bits_per_dim(model, pixels, 'variational', count)

  k = np.tile(pixels, (count, 1, 1, 1)).astype(np.float64)
  eps, _ = _base_draws(base, np.random.default_rng(7), k.shape)
  u, log_q = (t.numpy() for t in dequantizer.transform(
      tf.constant(eps), tf.constant(k / 17 - 0.5)))
  log_density = _gaussian_log_density((k + u) / 17 - 0.5, mean, scale)
  bits = 64 * math.log(2)
  independent = ((log_q - log_density) / bits + math.log2(17)).reshape(
      count, -1)
  tolerance = 4 * np.sqrt((draws.var(0) + independent.var(0)) / count)
  np.testing.assert_array_less(
      np.abs(draws.mean(0) - independent.mean(0)), tolerance)
  log_q_share = (log_q / bits).reshape(count, -1).mean(0)
  assert (np.abs(log_q_share) > 2 * tolerance).all()


def _repeated_bits_per_dim(model, pixels, noise, draws):
  """[draws, N] bits/dim of the N images, each draw with fresh noise (one
  batch of the images repeated: the noise is drawn per element)."""
  repeated = np.tile(pixels, (draws,) + (1,) * (pixels.ndim - 1))
  return model.bits_per_dim(repeated, noise).numpy().reshape(draws, -1)


def _perturbed_dequantizer_for(shape, base):
  """Far enough from uniform that log q matters (the logistic base starts
  at log q = 0; the Gaussian never has it)."""
  dequantizer = VariationalDequantizer(shape, hidden_width=8, steps=2,
                                       base=base, dtype='float64')
  rng = np.random.default_rng(2)
  for w in dequantizer.weights:
    w.assign(w + rng.normal(0., 0.05 if base == 'gaussian' else 0.3,
                            w.shape))
  return dequantizer


@pytest.mark.slow
def test_variational_dequantization_trains_jointly_to_a_tighter_bound():
  """Trained with the flow, q gives the trained flow a lower bits/dim than
  uniform noise does on the same flow (Flow++'s claim), by many standard
  errors of the difference."""
  flow = ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=16)
  dequantizer = VariationalDequantizer((8, 8, 1), hidden_width=16, steps=2)
  model = FlowModel(flow, num_levels=17, dequantizer=dequantizer)
  assert model.noise == 'variational'
  names = {id(w) for w in model.trainable_weights}
  assert all(id(w) in names for w in dequantizer.trainable_weights)
  data = tf.data.Dataset.from_tensor_slices(_digits(1024)).shuffle(
      1024, seed=0).batch(64)
  model.compile(optimizer=keras.optimizers.Adam(2e-3))
  before = dequantizer.step_nets[0].weights[-2].numpy().copy()
  history = model.fit(data, epochs=12, verbose=0)
  assert history.history['bpd'][-1] < history.history['bpd'][0] - 0.5
  assert not np.array_equal(before, dequantizer.step_nets[0].weights[-2])
  pixels = _digits(256)
  difference = (_repeated_bits_per_dim(model, pixels, 'variational', 8)
                - _repeated_bits_per_dim(model, pixels, 'uniform', 8)
                ).mean(0)
  standard_error = difference.std() / math.sqrt(len(difference))
  assert difference.mean() < -4 * standard_error, (
      difference.mean(), standard_error)
