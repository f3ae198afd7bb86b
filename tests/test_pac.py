"""PAC flows: the PAC layer, the logistic-mixture CDF, the checkerboard split
(the PAC coupling itself is in the contract suite)."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_invconv import bijectors as tfib
from tests import helpers

SHAPE = (2, 5, 6, 3)  # batch, H, W, C


def _pac(order, solver, kernel_size, adaptive=True, dtype=np.float64, seed=0):
  """A PAC layer with random, non-trivial conditioner outputs and filters."""
  rng = np.random.default_rng(seed)
  normal = lambda *shape, scale=1.: tf.constant(
      (rng.normal(size=shape) * scale).astype(dtype))
  b, h, w, c = SHAPE
  return tfib.PixelAdaptiveConv(
      filters=normal(kernel_size, kernel_size, c, c, scale=0.3),
      log_diagonal=normal(c, scale=0.3),
      log_scale=normal(b, h, w, c, scale=0.3),
      features=tf.tanh(normal(b, h, w, 4)) if adaptive else None,
      lengthscale=tf.sigmoid(normal(b, h, w, c)) if adaptive else None,
      bias=normal(b, h, w, c), order=order, solver=solver)


ORDERS_K_SOLVERS = [(o, k, s) for o in ('raster', 's-curve') for k in (3, 5)
                    for s in ('rows', 'jacobi')]


@pytest.mark.parametrize('order, kernel_size, solver', ORDERS_K_SOLVERS)
@pytest.mark.parametrize('adaptive', [True, False])
def test_pac_round_trip_and_dense_log_det(order, kernel_size, solver,
                                          adaptive):
  pac = _pac(order, solver, kernel_size, adaptive)
  x = np.random.default_rng(1).normal(size=SHAPE)
  x_error, y_error = helpers.round_trip_errors(pac, x, x)
  assert x_error < 1e-9 and y_error < 1e-9
  expected = helpers.dense_log_det(pac.forward, x,
                                    per_example_state=True)
  np.testing.assert_allclose(
      pac.forward_log_det_jacobian(helpers.fresh(x), 3), expected, atol=1e-6)
  np.testing.assert_allclose(
      pac.inverse_log_det_jacobian(helpers.fresh(x), 3), -expected, atol=1e-6)


def _masked_conv_by_the_formula(pac, x, triangle):
  """sum_{uv,i} Psi(x)_{hw,uv,i} k_{hw,o,uv} W_{uv,i,o} over the triangle's
  taps, pixel by pixel in numpy, from the layer's own inputs."""
  k, r = pac._k, pac._k // 2
  masks = pac._masks[triangle].numpy()
  filters = pac._filters.numpy() * (1. - pac._centre.numpy().reshape(
      k, k, *pac._centre.shape[1:]))
  if triangle == 'upper':
    filters[r, r] += np.diag(np.exp(pac._log_diagonal.numpy()))
  f, log_s = pac._features.numpy(), pac._log_scale.numpy()
  lengthscale = pac._lengthscale.numpy()
  b, h, w, c = x.shape
  out = np.zeros_like(x)
  for i in range(h):
    for j in range(w):
      for a in range(k):
        for bb in range(k):
          u, v = i + a - r, j + bb - r
          inside = 0 <= u < h and 0 <= v < w
          neighbour_f = f[:, u, v] if inside else np.zeros_like(f[:, 0, 0])
          neighbour_x = x[:, u, v] if inside else np.zeros_like(x[:, 0, 0])
          distance = ((f[:, i, j] - neighbour_f) ** 2).sum(-1)[:, None]
          kernel = np.exp(log_s[:, i, j] - distance / (2 * lengthscale[:, i, j]))
          tap = masks[i % 2, a * k + bb] * filters[a, bb]
          out[:, i, j] += kernel * (neighbour_x @ tap)
  return out


@pytest.mark.parametrize('order', ['raster', 's-curve'])
@pytest.mark.parametrize('triangle', ['upper', 'lower'])
def test_masked_conv_is_the_papers_sum(order, triangle):
  """The shifted channel products compute PAC's masked sum exactly."""
  pac = _pac(order, 'rows', 3)
  x = np.random.default_rng(3).normal(size=SHAPE)
  np.testing.assert_allclose(
      pac.masked_conv(tf.constant(x), pac._kernel(), triangle),
      _masked_conv_by_the_formula(pac, x, triangle), atol=1e-12)


@pytest.mark.parametrize('order', ['raster', 's-curve'])
def test_pac_jacobian_is_triangular_in_the_pixel_order(order):
  """U's and L's Jacobians vanish above (resp. below) the diagonal of the
  order (pixels by O, channels high to low within a pixel), so their
  determinants are the diagonals' products for the right reason."""
  pac = _pac(order, 'rows', 5)
  b, h, w, c = SHAPE
  x = helpers.fresh(np.random.default_rng(2).normal(size=(1, h, w, c)))
  kernel = [tap[:1] for tap in pac._kernel()]
  rank = np.zeros((h, w), int)
  for i in range(h):
    cols = range(w) if order == 'raster' or i % 2 == 0 else reversed(range(w))
    for n, j in enumerate(cols):
      rank[i, j] = i * w + n
  position = (rank[..., None] * c + (c - 1 - np.arange(c))).reshape(-1)
  for triangle, upper in (('upper', True), ('lower', False)):
    with tf.GradientTape() as tape:
      tape.watch(x)
      out = tf.reshape(pac._triangle(x, kernel, triangle), [-1])
    jacobian = tape.jacobian(out, x).numpy().reshape(h * w * c, h * w * c)
    later = position[None, :] > position[:, None]  # input after output
    forbidden = ~later if upper else later
    np.fill_diagonal(forbidden, False)
    assert np.abs(jacobian[forbidden]).max() == 0
    assert np.abs(jacobian[~forbidden & ~np.eye(len(position), dtype=bool)]
                  ).max() > 0


def test_pac_inverse_in_float32_with_unknown_sizes():
  pac = _pac('s-curve', 'rows', 5, dtype=np.float32)
  x = np.random.default_rng(3).normal(size=SHAPE).astype(np.float32)
  z = pac.forward(helpers.fresh(x))
  inverse = tf.function(pac.inverse, input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.float32)])
  np.testing.assert_allclose(inverse(helpers.fresh(z)), x, atol=1e-4)


def test_solves_are_recorded_with_their_steps():
  pac = _pac('raster', 'jacobi', 5)
  y = pac.forward(helpers.fresh(np.ones(SHAPE)))
  _, records = pac.inverse_with_solve_info(helpers.fresh(y))
  records = [{k: np.asarray(v) if k != 'triangle' else v
              for k, v in r.items()} for r in records]
  assert [r['triangle'] for r in records] == ['lower', 'upper']
  for r in records:
    assert 1 <= r['steps'] <= 5 * 6 * 3 + 1
    assert len(r['changes']) == r['steps']
    assert r['changes'][-1] <= 1e-12


@pytest.mark.parametrize('dtype, tolerance', [(np.float64, 1e-12),
                                              (np.float32, 1e-6)])
def test_logistic_mixture_logit_round_trip_and_log_det(dtype, tolerance):
  rng = np.random.default_rng(0)
  params = [(rng.normal(size=(3, 7, 5)) * s).astype(dtype)
            for s in (1., 2., 0.5)]
  mixture = tfib.LogisticMixtureLogit(*params)
  x = (rng.normal(size=(3, 7)) * 4).astype(dtype)
  back = mixture.inverse(helpers.fresh(mixture.forward(helpers.fresh(x))))
  assert np.max(np.abs(back - x) / (1 + np.abs(x))) < 2 * tolerance
  t = helpers.fresh(x)
  with tf.GradientTape() as tape:
    tape.watch(t)
    z = mixture.forward(t)
  derivative = tape.gradient(z, t)
  np.testing.assert_allclose(
      mixture.forward_log_det_jacobian(helpers.fresh(x), 0),
      np.log(derivative), atol=10 * tolerance)


def test_tensor_parameter_bijectors_have_batch_shape_and_flags():
  pac = _pac('raster', 'rows', 3)
  rng = np.random.default_rng(0)
  mixture = tfib.LogisticMixtureLogit(*rng.normal(size=(3, 2, 4)))
  assert pac.experimental_batch_shape() == []
  assert mixture.experimental_batch_shape() == []
  assert pac.is_constant_jacobian and not mixture.is_constant_jacobian


def test_mixture_inverse_crosses_a_steep_component_in_few_iterations():
  """A trained flow's mixture where plain safeguarded Newton jumps back and
  forth across the steep component's S-shape for ~40 iterations."""
  params = [[0.3750926, -0.60638094, -2.0735984, 0.50573605],
            [-1.8111796, -0.3624818, 0.46926838, 3.1324873],
            [-0.00523636, -2.955681, 0.79564476, 1.0129592]]
  z = np.array([0.23700333, -3., 0., 8.], np.float32)
  mixture = tfib.LogisticMixtureLogit(
      *[np.tile(np.float32(p), [4, 1]) for p in params], max_iterations=15)
  x = mixture.inverse(helpers.fresh(z))
  np.testing.assert_allclose(mixture.forward(helpers.fresh(x)), z,
                             atol=2e-6)


def test_logistic_mixture_cdf_is_the_mixture_cdf():
  logits, locs, log_scales = np.log([0.2, 0.8]), [-1., 2.], np.log([0.5, 2.])
  cdf = tfib.logistic_mixture_cdf(logits, locs, log_scales)
  x = np.linspace(-5., 5., 11)
  sigmoid = lambda t: 1. / (1. + np.exp(-t))
  expected = 0.2 * sigmoid((x + 1.) / 0.5) + 0.8 * sigmoid((x - 2.) / 2.)
  np.testing.assert_allclose(cdf.forward(x), expected, rtol=1e-12)
  np.testing.assert_allclose(cdf.inverse(expected), x, atol=1e-9)


def test_bad_pac_arguments_are_clear_errors():
  with pytest.raises(ValueError, match='order must be one of'):
    _pac('zigzag', 'rows', 3)
  with pytest.raises(ValueError, match='kernel_size must be odd'):
    tfib.PACCoupling(4, kernel_size=4)
  with pytest.raises(ValueError, match='variant must be one of'):
    tfib.PACCoupling(4, variant='glow')
