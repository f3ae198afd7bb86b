"""The bijector contract, over every bijector.

For each bijector, with random non-trivial weights: round trips on fresh
tensors, log-det against the dense float64 Jacobian, ildj = -fldj, batch
shapes, float32/float64, tf.function, gradients to every weight, clear errors
on bad input.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_invconv import bijectors as tfib
from tfp_invconv import nets
from tfp_invconv import precision
from tfp_invconv.bijectors import actnorm
from tests import helpers

tfb = tfp.bijectors


def _factor_out(dtype):
  inner = tfb.Chain([tfb.Reshape([48], [4, 6, 2]),
                     tfib.CInCConv2D(2, dtype=dtype)])
  return tfib.FactorOut((4, 6, 4), inner, dtype=dtype)


def _three_block_coupling(dtype):
  make_net = lambda c_in, c_out, name: nets.glow_conditioner(
      c_in, c_out, 8, dtype=dtype, name=name)
  return tfib.Coupling(6, 3, tfib.AffineTransform(), make_net, dtype=dtype)


def _additive_coupling(dtype):
  """NICE's additive coupling, from a plain function: the open form."""
  make_net = lambda c_in, c_out, name: nets.glow_conditioner(
      c_in, c_out, 8, dtype=dtype, name=name)
  return tfib.Coupling(4, 2, tfb.Shift, make_net, conditioner_outputs=2,
                       dtype=dtype)


# name -> (factory(dtype), event shape of the input)
CASES = {
    'CInCConv2D': (lambda d: tfib.CInCConv2D(4, dtype=d), (5, 6, 4)),
    'CInCConv2D-k5-jacobi': (
        lambda d: tfib.CInCConv2D(4, kernel_size=5, solver='jacobi',
                                  dtype=d), (5, 6, 4)),
    'CInCConv2D-bottom_right': (
        lambda d: tfib.CInCConv2D(4, corner='bottom_right', dtype=d),
        (5, 6, 4)),
    'CInCConv2D-triangular': (
        lambda d: tfib.CInCConv2D(4, centre='triangular', dtype=d),
        (5, 6, 4)),
    'CInCConv2D-triangular-k5-jacobi': (
        lambda d: tfib.CInCConv2D(4, kernel_size=5, centre='triangular',
                                  solver='jacobi', dtype=d), (5, 6, 4)),
    'CInCConv2D-triangular-bottom_right': (
        lambda d: tfib.CInCConv2D(4, centre='triangular',
                                  corner='bottom_right', dtype=d), (5, 6, 4)),
    'CInCConv2D-triangular-unit': (
        lambda d: tfib.CInCConv2D(4, centre='triangular', diagonal='unit',
                                  dtype=d), (5, 6, 4)),
    'CInCConv2D-triangular-k1': (
        lambda d: tfib.CInCConv2D(3, kernel_size=1, centre='triangular',
                                  dtype=d), (5, 6, 3)),
    'CInCConv2D-k1': (lambda d: tfib.CInCConv2D(3, kernel_size=1, dtype=d),
                      (5, 6, 3)),
    'EmergingConv2D': (lambda d: tfib.EmergingConv2D(4, dtype=d), (5, 6, 4)),
    'Invertible1x1Conv': (lambda d: tfib.Invertible1x1Conv(4, dtype=d),
                          (5, 6, 4)),
    'Invertible1x1Conv-1d': (
        lambda d: tfib.Invertible1x1Conv(5, event_rank=1, dtype=d), (5,)),
    'ActNorm': (lambda d: tfib.ActNorm(4, dtype=d), (5, 6, 4)),
    'ChannelAffine': (
        lambda d: actnorm.ChannelAffine(4, d, False, None, 'channel_affine'),
        (5, 6, 4)),
    'LearnedPrior': (lambda d: tfib.LearnedPrior(4, dtype=d), (5, 6, 4)),
    'AffineCoupling': (
        lambda d: tfib.AffineCoupling(4, hidden_width=8, dtype=d), (5, 6, 4)),
    'AffineCoupling-exp': (
        lambda d: tfib.AffineCoupling(4, hidden_width=8, scale='exp',
                                      dtype=d), (5, 6, 4)),
    'QuadCoupling': (lambda d: tfib.QuadCoupling(8, hidden_width=8, dtype=d),
                     (5, 6, 8)),
    'Coupling-3-blocks': (_three_block_coupling, (5, 6, 6)),
    'Coupling-additive': (_additive_coupling, (5, 6, 4)),
    'SplineCoupling': (
        lambda d: tfib.SplineCoupling(4, hidden_width=8, dtype=d), (5, 6, 4)),
    'Coupling-spline-checkerboard': (
        lambda d: tfib.Coupling(
            4, 2, tfib.SplineTransform(bins=3, bound=2.),
            lambda c_in, c_out, name: nets.glow_conditioner(
                c_in, c_out, 8, dtype=d, name=name),
            split='checkerboard', dtype=d), (5, 6, 4)),
    'ConditionalPrior': (lambda d: tfib.ConditionalPrior(4, dtype=d),
                         (5, 6, 4)),
    'Squeeze': (lambda d: tfib.Squeeze((4, 6, 4), dtype=d), (4, 6, 4)),
    'FactorOut': (_factor_out, (4, 6, 4)),
    'SymmetricConv': (lambda d: tfib.SymmetricConv((5, 6, 4), dtype=d),
                      (5, 6, 4)),
    'SymmetricConv-dct1': (
        lambda d: tfib.SymmetricConv((5, 6, 4), dct_type=1, dtype=d),
        (5, 6, 4)),
    'SymmetricConv-1d': (lambda d: tfib.SymmetricConv((7,), dtype=d), (7,)),
    'SLog': (lambda d: tfib.SLog(4, dtype=d), (5, 6, 4)),
    'SLog-1d': (lambda d: tfib.SLog(6, event_rank=1, dtype=d), (6,)),
    'CONFCoupling': (
        lambda d: tfib.CONFCoupling(4, hidden_width=8, dtype=d), (5, 6, 4)),
    'CONFCoupling-dct1-m3': (
        lambda d: tfib.CONFCoupling(4, hidden_width=8, num_layers=3,
                                    dct_type=1, dtype=d), (5, 6, 4)),
    'CONFCoupling-1d': (
        lambda d: tfib.CONFCoupling(6, hidden_width=8, event_rank=1,
                                    dtype=d), (6,)),
    'PACCoupling-checkerboard-raster': (
        lambda d: tfib.PACCoupling(4, features=3, components=3,
                                   hidden_width=8, blocks=1, dtype=d),
        (5, 6, 4)),
    'PACCoupling-channel-s-curve-k3-jacobi': (
        lambda d: tfib.PACCoupling(4, split='channel', order='s-curve',
                                   kernel_size=3, features=3, components=2,
                                   hidden_width=8, blocks=1, solver='jacobi',
                                   dtype=d), (5, 6, 4)),
    'PACCoupling-emerging': (
        lambda d: tfib.PACCoupling(4, variant='emerging', hidden_width=8,
                                   blocks=1, dtype=d), (5, 6, 4)),
    'Recomputed-step': (
        lambda d: tfib.Recomputed(
            [tfib.ActNorm(4, dtype=d), tfib.CInCConv2D(4, dtype=d),
             tfib.AffineCoupling(4, hidden_width=8, dtype=d)], (5, 6, 4),
            dtype=d), (5, 6, 4)),
    'Reversible-steps': (
        lambda d: tfib.Reversible(
            [[tfib.ActNorm(4, dtype=d), tfib.CInCConv2D(4, dtype=d),
              tfib.AffineCoupling(4, hidden_width=8, dtype=d)],
             [tfib.ActNorm(4, dtype=d), tfib.Invertible1x1Conv(4, dtype=d),
              tfib.CONFCoupling(4, hidden_width=8, dtype=d)]], (5, 6, 4),
            dtype=d), (5, 6, 4)),
    'PACCoupling-realnvp': (
        lambda d: tfib.PACCoupling(4, variant='realnvp', split='channel',
                                   hidden_width=8, blocks=1, dtype=d),
        (5, 6, 4)),
}
IDS = sorted(CASES)
# Bijectors whose parameters are tensors from a conditioner, not weights:
# their contract is checked in tests/test_pac.py, and as stages of the
# PACCoupling cases above.
TENSOR_PARAMETER_BIJECTORS = {'PixelAdaptiveConv', 'LogisticMixtureLogit'}


def _make(case, dtype=tf.float64):
  factory, shape = CASES[case]
  bijector = factory(dtype)
  helpers.perturb_weights(bijector)
  return bijector, shape


def _sample(shape, dtype=np.float64, seed=0):
  return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.mark.parametrize('case', IDS)
def test_round_trip_on_fresh_tensors(case):
  bijector, shape = _make(case)
  x = _sample((2,) + shape)
  y = _sample((2,) + tuple(bijector.forward_event_shape(shape)), seed=1)
  x_error, y_error = helpers.round_trip_errors(bijector, x, y)
  assert x_error < 1e-9 and y_error < 1e-9


@pytest.mark.parametrize('case', IDS)
def test_log_det_matches_dense_jacobian(case):
  bijector, shape = _make(case)
  x = _sample((2,) + shape)
  expected = helpers.dense_log_det(bijector.forward, x)
  fldj = bijector.forward_log_det_jacobian(helpers.fresh(x), event_ndims=bijector.forward_min_event_ndims)
  np.testing.assert_allclose(fldj, expected, atol=1e-6, rtol=0)
  y = bijector.forward(helpers.fresh(x))
  ildj = bijector.inverse_log_det_jacobian(
      helpers.fresh(y), event_ndims=bijector.inverse_min_event_ndims)
  np.testing.assert_allclose(ildj, -expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize('case', IDS)
def test_float32_batch_shapes_and_tf_function(case):
  bijector, shape = _make(case, tf.float32)
  x = _sample((3, 2) + shape, np.float32)
  y = bijector.forward(helpers.fresh(x))
  assert y.dtype == tf.float32
  assert y.shape == (3, 2) + tuple(bijector.forward_event_shape(shape))
  fldj = bijector.forward_log_det_jacobian(helpers.fresh(x), event_ndims=bijector.forward_min_event_ndims)
  assert fldj.shape == (3, 2)
  single = bijector.forward(helpers.fresh(x[1, 0]))
  np.testing.assert_allclose(single, y[1, 0], atol=1e-5)

  forward = tf.function(lambda t: (bijector.forward(t),
                                   bijector.forward_log_det_jacobian(
                                       t, bijector.forward_min_event_ndims)))
  y_graph, fldj_graph = forward(helpers.fresh(x))
  np.testing.assert_allclose(y_graph, y, atol=1e-5)
  np.testing.assert_allclose(fldj_graph, fldj, rtol=1e-5, atol=1e-4)
  inverse = tf.function(bijector.inverse)
  np.testing.assert_allclose(inverse(helpers.fresh(y)), x, atol=1e-4)


@pytest.mark.parametrize('case', IDS)
def test_gradients_reach_every_weight(case):
  bijector, shape = _make(case)
  x = helpers.fresh(_sample((2,) + shape))
  with tf.GradientTape() as tape:
    y = bijector.forward(x)
    loss = (tf.reduce_sum(y ** 2)
            - tf.reduce_sum(bijector.forward_log_det_jacobian(
                x, bijector.forward_min_event_ndims)))
  variables = bijector.trainable_variables
  grads = tape.gradient(loss, variables)
  for v, g in zip(variables, grads):
    assert g is not None and float(tf.reduce_max(tf.abs(g))) > 0, v.name
  assert len({id(v) for v in variables}) == len(variables)


@pytest.mark.parametrize('case', IDS)
def test_wrong_channel_count_is_a_clear_error(case):
  bijector, shape = _make(case)
  bad = _sample((2,) + shape[:-1] + (shape[-1] + 1,))
  with pytest.raises(ValueError, match='expected input of shape'):
    bijector.forward(bad)


# The linear maps: their log-det does not depend on the input.
CONSTANT_JACOBIAN = ('CInCConv2D', 'EmergingConv2D', 'Invertible1x1Conv',
                     'ActNorm', 'ChannelAffine', 'LearnedPrior', 'Squeeze', 'SymmetricConv')


@pytest.mark.parametrize('case', IDS)
def test_batch_shape_and_constant_jacobian_flag(case):
  bijector, shape = _make(case)
  assert bijector.experimental_batch_shape() == []
  assert bijector.is_constant_jacobian == case.startswith(CONSTANT_JACOBIAN)
  if bijector.is_constant_jacobian:
    x = _sample((2,) + shape)
    fldj = bijector.forward_log_det_jacobian(
        helpers.fresh(x), bijector.forward_min_event_ndims)
    np.testing.assert_allclose(fldj[0], fldj[1], rtol=1e-12)


@pytest.mark.parametrize('make', [
    lambda: tfib.CInCConv2D(4, validate_args=True),
    lambda: tfib.AffineCoupling(4, hidden_width=8, validate_args=True),
    lambda: tfib.ActNorm(4, validate_args=True)])
def test_validate_args_rejects_nan(make):
  x = _sample((1, 5, 6, 4), np.float32)
  x[0, 0, 0, 0] = np.nan
  with pytest.raises(tf.errors.InvalidArgumentError, match='NaN or Inf'):
    make().forward(x)


def test_every_bijector_class_is_covered():
  covered = {type(CASES[c][0](tf.float32)).__name__ for c in CASES}
  covered |= TENSOR_PARAMETER_BIJECTORS
  exported = {name for name in dir(tfib)
              if isinstance(getattr(tfib, name), type)
              and issubclass(getattr(tfib, name), tfb.Bijector)
              and not name.endswith('Base')}
  assert exported <= covered, exported - covered


def test_validate_args_names_the_layer_that_overflows():
  actnorm = tfib.ActNorm(4, validate_args=True)
  actnorm.trainable_variables[1].assign(-np.ones(4, np.float32))  # log s
  huge = np.full((1, 5, 6, 4), 3e38, np.float32)  # e * 3e38 overflows
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='inverse produced NaN or Inf'):
    actnorm.inverse(huge)


# Growth contract: adversarial parameters, huge inputs.
ADVERSARIAL = 1e3
LARGE_INPUT = 1e4
# The off-diagonal taps of the triangular linear maps (convolution kernels,
# PAC filters, LU factors) are set to +-1 rather than +-1e3: an exact
# triangular inverse whose taps are 1e3 times its diagonal grows
# geometrically with the pixel count (a 5 x 6 CInC inverse reaches 1e300 in
# float64), which no bound on its scales can prevent.
TAP_WEIGHTS = ('kernel', 'filters', 'lower', 'upper')
ADVERSARIAL_TAP = 1.
# Those inverses still grow like (taps / diagonal)^(H + W) with the diagonal
# as small as its bound e^-10 allows, beyond float32 at the contract's
# 5 x 6 images: they are checked in float64 (each docstring states the
# growth).
TRIANGULAR_SOLVES = ('CInCConv2D', 'EmergingConv2D', 'FactorOut',
                     'PACCoupling-channel', 'PACCoupling-checkerboard',
                     'PACCoupling-emerging', 'Recomputed', 'Reversible')
# Options documented as unbounded, kept to reproduce the papers.
UNBOUNDED = {'AffineCoupling-exp': "scale='exp', the Glow paper's exp(r)"}


def _adversarial(case, seed=0, sign=None):
  """The case with every weight of its own at +-1e3 (taps at +-1) and
  every conditioner network's outputs at +-1e3 (its last layer's bias; all
  other conditioner weights 0), the signs drawn at random (or all `sign`);
  float32 unless it solves a triangular convolution."""
  import keras
  float64 = case.startswith(TRIANGULAR_SOLVES)
  bijector, shape = _make(case, tf.float64 if float64 else tf.float32)
  rng = np.random.default_rng(seed)
  signs = lambda v, size=ADVERSARIAL: (
      rng.choice([-size, size], v.shape) if sign is None
      else np.full(v.shape, sign * size))
  for layer in tfib.collect_keras_layers(bijector):
    if isinstance(layer, keras.Model):
      for v in layer.weights:
        v.assign(tf.zeros_like(v))
      layer.layers[-1].bias.assign(signs(layer.layers[-1].bias))
      continue
    for v in layer.trainable_weights:
      tap = any(name in v.name for name in TAP_WEIGHTS)
      v.assign(signs(v, ADVERSARIAL_TAP if tap else ADVERSARIAL))
  return bijector, shape


@pytest.mark.parametrize('case', sorted(set(IDS) - set(UNBOUNDED)))
@pytest.mark.parametrize('seed', [0, 1])
def test_growth_contract_values_and_log_dets_stay_finite(case, seed):
  bijector, shape = _adversarial(case, seed)
  dtype = bijector.dtype.as_numpy_dtype
  rng = np.random.default_rng(seed)
  x = (LARGE_INPUT * rng.normal(size=(2,) + shape)).astype(dtype)
  out_shape = tuple(bijector.forward_event_shape(shape))
  y = (LARGE_INPUT * rng.normal(size=(2,) + out_shape)).astype(dtype)
  forward = bijector.forward(helpers.fresh(x))
  fldj = bijector.forward_log_det_jacobian(
      helpers.fresh(x), bijector.forward_min_event_ndims)
  inverse = bijector.inverse(helpers.fresh(y))
  ildj = bijector.inverse_log_det_jacobian(
      helpers.fresh(y), bijector.inverse_min_event_ndims)
  for name, value in (('forward', forward), ('fldj', fldj),
                      ('inverse', inverse), ('ildj', ildj)):
    assert np.isfinite(np.asarray(value)).all(), name


def test_every_bijector_class_states_its_growth_bound():
  exported = [getattr(tfib, name) for name in dir(tfib)
              if isinstance(getattr(tfib, name), type)
              and issubclass(getattr(tfib, name), tfb.Bijector)
              and not name.endswith('Base')]
  missing = [cls.__name__ for cls in exported
             if 'Growth bound' not in (cls.__doc__ or '')]
  assert not missing, missing


# Stated bounds on |log det| per example under the growth contract's
# parameters: (bound on each value's |log scale|, share of the event's
# values the layer scales).
LOG_DET_BOUNDS = {
    'AffineCoupling': (2., 1 / 2), 'QuadCoupling': (2., 3 / 4),
    'Coupling-3-blocks': (2., 2 / 3), 'ConditionalPrior': (2., 1 / 2),
    'LearnedPrior': (2., 1.), 'ActNorm': (10., 1.),
    'Invertible1x1Conv': (10., 1.), 'CInCConv2D': (10., 1.),
    'CInCConv2D-triangular': (10., 1.), 'EmergingConv2D': (20., 1.),
    'SymmetricConv': (10., 1.),
}


@pytest.mark.parametrize('case', sorted(LOG_DET_BOUNDS))
@pytest.mark.parametrize('sign', [1., -1.])
def test_growth_contract_log_det_within_the_stated_scale_bound(case, sign):
  bijector, shape = _adversarial(case, sign=sign)
  bound, share = LOG_DET_BOUNDS[case]
  limit = bound * share * np.prod(shape)
  x = (LARGE_INPUT * np.random.default_rng(0).normal(size=(2,) + shape))
  fldj = np.asarray(bijector.forward_log_det_jacobian(
      helpers.fresh(x.astype(bijector.dtype.as_numpy_dtype)),
      bijector.forward_min_event_ndims))
  assert np.all(np.abs(fldj) <= limit * (1 + 1e-6)), (fldj, limit)
  # Parameters of one sign drive every scale to its bound: it is attained.
  np.testing.assert_allclose(np.abs(fldj), limit, rtol=1e-3)


def test_every_layer_and_flow_class_teaches_its_math():
  import tfp_invconv as ti
  classes = [getattr(tfib, name) for name in dir(tfib)
             if isinstance(getattr(tfib, name), type)
             and issubclass(getattr(tfib, name), tfb.Bijector)
             and not name.endswith('Base')]
  classes += [ti.flows.MultiScaleFlow, ti.CInCFlow, ti.GlowFlow,
              ti.EmergingFlow, ti.SymmetricConvFlow, ti.PACFlow,
              ti.SymmetricConvVectorFlow]
  missing = {cls.__name__: [part for part in ('Forward', 'Log-det', 'Inverse',
                                              'References:', '```python')
                            if part not in (cls.__doc__ or '')]
             for cls in classes}
  assert not {k: v for k, v in missing.items() if v}


def test_conf_layers_round_trip_and_dense_log_det():
  """CONFLayers, the bijector CONF's bijector_fn builds, with random
  non-trivial conditioner outputs (also covered inside 'CONFCoupling')."""
  from tfp_invconv.bijectors import conf_coupling
  transform = conf_coupling.CONFTransform(4, 2, 3, 2, 1.135, tf.float64,
                                          'conf')
  for v in transform.keras_layers[0].weights:
    v.assign(v + np.random.default_rng(1).normal(0., 0.3, v.shape))
  params = _sample((2, 5, 6, transform.conditioner_outputs(4)), seed=2)
  layers = transform(tf.constant(params))
  assert isinstance(layers, conf_coupling.CONFLayers)
  x, y = _sample((2, 5, 6, 4)), _sample((2, 5, 6, 4), seed=1)
  x_error, y_error = helpers.round_trip_errors(layers, x, y)
  assert x_error < 1e-9 and y_error < 1e-9
  expected = helpers.dense_log_det(layers.forward, x,
                                   per_example_state=True)
  np.testing.assert_allclose(
      layers.forward_log_det_jacobian(helpers.fresh(x), 3), expected,
      atol=1e-6)
  np.testing.assert_allclose(
      layers.inverse_log_det_jacobian(helpers.fresh(layers.forward(x)), 3),
      -expected, atol=1e-6)


# Mixed precision (tfp_invconv.precision): every coupling, its conditioners
# in bfloat16, its map in float32.
MIXED_CASES = sorted(c for c in IDS
                     if isinstance(_make(c)[0], tfib.Coupling))


def _mixed(case):
  bijector, shape = _make(case, tf.float32)
  precision.set_conditioner_policy(bijector, precision.MIXED)
  return bijector, shape


@pytest.mark.parametrize('case', MIXED_CASES)
def test_mixed_precision_round_trip_and_dense_log_det(case):
  bijector, shape = _mixed(case)
  net = precision.conditioners(bijector)[0]
  assert net.compute_dtype == 'bfloat16' and net.weights[0].dtype == 'float32'
  x = _sample((2,) + shape, np.float32)
  y = _sample((2,) + tuple(bijector.forward_event_shape(shape)),
              np.float32, seed=1)
  x_error, y_error = helpers.round_trip_errors(bijector, x, y)
  assert x_error < 1e-5 and y_error < 1e-5
  fldj = bijector.forward_log_det_jacobian(
      helpers.fresh(x), event_ndims=bijector.forward_min_event_ndims)
  assert fldj.dtype == tf.float32
  np.testing.assert_allclose(fldj, helpers.dense_log_det(bijector.forward, x),
                             atol=2e-4, rtol=1e-5)


@pytest.mark.parametrize('case', MIXED_CASES)
def test_mixed_precision_map_is_the_float32_map_of_the_bfloat16_outputs(
    case):
  """Going back, block 2's conditioner gets the bit-identical first block,
  so it returns the forward's outputs bit for bit; the log-det is the
  float32 map's at those outputs."""
  bijector, shape = _mixed(case)
  x = helpers.fresh(_sample((2,) + shape, np.float32))
  y = bijector.forward(x)
  forward_input = bijector.conditioner_input(1, bijector.blocks(x))
  inverse_input = bijector.conditioner_input(
      1, bijector.blocks(bijector.inverse(helpers.fresh(y))))
  net = bijector.conditioners[0]
  forward_out, inverse_out = net(forward_input), net(inverse_input)
  assert forward_out.dtype == tf.bfloat16
  np.testing.assert_array_equal(forward_out.numpy().view(np.uint16),
                                inverse_out.numpy().view(np.uint16))
  if bijector.num_blocks == 2:
    block = bijector.blocks(x)[1]
    map_float32 = bijector.bijector_fn(tf.cast(forward_out, tf.float32))
    np.testing.assert_array_equal(
        bijector.forward_log_det_jacobian(
            x, event_ndims=bijector.forward_min_event_ndims),
        tf.broadcast_to(map_float32.forward_log_det_jacobian(
            block, event_ndims=bijector.forward_min_event_ndims), [2]))
