"""Whole flows: every conv x coupling combination on a tiny image."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_invconv as ti
from tfp_invconv import bijectors as tfib
from tests import helpers

COMBINATIONS = [(conv, coupling, 'lu') for conv, coupling
                in itertools.product(ti.flows.CONVS, ti.flows.COUPLINGS)]
COMBINATIONS += [('cinc', coupling, 'triangular')
                 for coupling in ti.flows.COUPLINGS]


@pytest.mark.parametrize('conv,coupling,centre', COMBINATIONS)
def test_tiny_flow_round_trip_and_dense_log_det(conv, coupling, centre):
  flow = helpers.tiny_flow(conv, coupling, centre=centre)
  x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 8, 8, 3))
  z = flow.inverse(helpers.fresh(x))
  assert z.shape == (2, 192)
  z_random = np.random.default_rng(1).normal(size=(2, 192))
  z_error, x_error = helpers.round_trip_errors(flow, z_random, x)
  # Relative to the generated images: CONF's S-Log inverse is exponential,
  # so random weights can decode N(0, 1) latents to values of 1e5.
  scale = max(1., float(np.max(np.abs(flow.forward(z_random)))))
  assert x_error < 1e-9 and z_error < 1e-9 * scale
  expected = helpers.dense_log_det(flow.inverse, x)
  ildj = flow.inverse_log_det_jacobian(helpers.fresh(x), event_ndims=3)
  np.testing.assert_allclose(ildj, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize('conv,coupling', [('cinc', 'quad'),
                                           ('emerging', 'affine')])
def test_distribution_samples_push_the_base_draw_and_score_by_its_jacobian(
    conv, coupling):
  """A sample is the flow applied to the base draw of the same seed, and
  its log density is the base density there minus log|det| of the dense
  Jacobian of the flow at that draw."""
  flow = helpers.tiny_flow(conv, coupling, dtype=tf.float64,
                           corners='alternate')
  assert flow.experimental_batch_shape() == []
  base = tfp.distributions.Sample(
      tfp.distributions.Normal(tf.constant(0., tf.float64), 1.), [192])
  dist = tfp.distributions.TransformedDistribution(base, flow)
  assert dist.event_shape == (8, 8, 3)
  samples = dist.sample(3, seed=(1, 2))
  drawn = base.sample(3, seed=(1, 2))  # flat latents [3, 192]
  np.testing.assert_allclose(flow.inverse(helpers.fresh(samples)), drawn,
                             atol=1e-9)
  other = dist.sample(3, seed=(3, 4))
  assert np.mean(np.abs(other - samples)) > 0.1  # another seed, other images
  expected = (base.log_prob(drawn)
              - helpers.dense_log_det(flow.forward, drawn.numpy()))
  np.testing.assert_allclose(dist.log_prob(samples), expected, atol=1e-6)


@pytest.mark.parametrize('kwargs,message', [
    (dict(image_shape=(6, 8, 3), levels=2), 'divisible by 4'),
    (dict(image_shape=(8, 8), levels=1), 'image_shape'),
    (dict(image_shape=(8, 8, 3), levels=1, conv='3x3'), 'conv must be'),
    (dict(image_shape=(8, 8, 3), levels=1, coupling='triple'),
     'coupling must be'),
    (dict(image_shape=(8, 8, 3), levels=1, centre='full'), 'centre must be'),
    (dict(image_shape=(8, 8, 3), levels=0), 'levels must be a positive'),
    (dict(image_shape=(8, 8, 3), levels=1, kernel_size=0),
     'kernel_size must be a positive'),
])
def test_bad_flow_configuration_is_a_clear_error(kwargs, message):
  with pytest.raises(ValueError, match=message):
    ti.CInCFlow(depth=1, hidden_width=4, **kwargs)


def test_flow_rejects_zero_depth():
  with pytest.raises(ValueError, match='depth must be a positive integer'):
    ti.CInCFlow((8, 8, 3), levels=1, depth=0, hidden_width=4)


@pytest.mark.parametrize('order, solver', [('raster', 'rows'),
                                           ('s-curve', 'jacobi')])
def test_tiny_pac_flow_round_trip_and_dense_log_det(order, solver):
  flow = ti.PACFlow((8, 8, 1), scales=2, checkerboard=1, channel=1,
                    order=order, solver=solver, hidden_width=8, blocks=1,
                    features=3, components=3, dtype=tf.float64)
  x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 8, 8, 1))
  flow.inverse(helpers.fresh(x))
  helpers.perturb_weights(flow, stddev=0.05)
  z = flow.inverse(helpers.fresh(x))
  assert z.shape == (2, 64)
  x_back = flow.forward(helpers.fresh(z))
  np.testing.assert_allclose(x_back, x, atol=1e-9)
  expected = helpers.dense_log_det(flow.inverse, x)
  np.testing.assert_allclose(
      flow.inverse_log_det_jacobian(helpers.fresh(x), event_ndims=3),
      expected, atol=1e-6, rtol=0)


def test_pac_flow_needs_an_even_width_after_its_squeezes():
  with pytest.raises(ValueError, match=r'2 squeezes and a checkerboard split: .*'
                     r'divisible by 8; .* \(pad it to '
                     r'\(16, 16, 1\)'):
    ti.PACFlow((12, 12, 1), scales=2)


@pytest.mark.parametrize('make', [
    lambda: ti.CInCFlow((8, 8, 3), levels=2, depth=1, hidden_width=8),
    lambda: ti.GlowFlow((8, 8, 3), levels=2, depth=1, hidden_width=8),
    lambda: ti.EmergingFlow((8, 8, 3), levels=2, depth=1, hidden_width=8),
    lambda: ti.SymmetricConvFlow((8, 8, 3), levels=2, depth=1, hidden_width=8),
    lambda: ti.SymmetricConvVectorFlow(4, depth=2, hidden_width=8),
    lambda: ti.PACFlow((8, 8, 3), scales=2, checkerboard=1, channel=1,
                       hidden_width=8, blocks=1, features=2, components=2)],
    ids=['cinc', 'glow', 'emerging', 'symmetric', 'vector', 'pac'])
def test_flows_pass_through_tf_function_and_saved_model(make, tmp_path):
  flow = make()
  helpers.perturb_weights(flow, stddev=0.05)
  dist = ti.flow_distribution(flow)
  # Data-like inputs: a sample would hit TFP's cache in the eager call, and
  # an untrained PAC flow's samples are too large to round-trip in float32.
  x = 0.5 * tf.random.stateless_normal([2, *flow.data_shape], seed=(1, 2))
  log_prob = tf.function(lambda d, t: d.log_prob(t))(dist, x)
  np.testing.assert_allclose(log_prob, dist.log_prob(x), rtol=1e-5)
  module = tf.Module()
  module.dist = dist
  module.log_prob = tf.function(
      lambda t: module.dist.log_prob(t),
      input_signature=[tf.TensorSpec([None, *flow.data_shape])])
  tf.saved_model.save(module, str(tmp_path / 'saved'))
  loaded = tf.saved_model.load(str(tmp_path / 'saved'))
  np.testing.assert_allclose(loaded.log_prob(x), log_prob, rtol=1e-5)


# Rebuilding activations with the inverses adds their round-off, in float32
# up to ~3e-5 of a variable's largest gradient through CONF couplings:
# float64 tests the algorithm.
@pytest.mark.parametrize('conv, coupling, mode, dtype', [
    ('cinc', 'affine', 'recompute', tf.float32),
    ('emerging', 'quad', 'recompute', tf.float32),
    ('symmetric', 'conf', 'recompute', tf.float32),
    ('cinc', 'quad', 'inverse', tf.float64),
    ('emerging', 'affine', 'inverse', tf.float64),
    ('symmetric', 'conf', 'inverse', tf.float64)])
def test_memory_saving_keeps_values_gradients_and_weight_order(
    conv, coupling, mode, dtype, tmp_path):
  import keras
  from tfp_invconv.model import FlowModel
  pixels = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3))

  def loss_and_gradients(memory_saving):
    keras.backend.clear_session()  # the same layer names in both models
    keras.utils.set_random_seed(0)
    model = FlowModel(ti.CInCFlow((8, 8, 3), levels=2, depth=2,
                                  hidden_width=8, conv=conv,
                                  coupling=coupling,
                                  memory_saving=memory_saving, dtype=dtype),
                      num_levels=256, noise='center')
    model.bits_per_dim(pixels)  # ActNorm's data-dependent initialisation
    # Non-trivial parameters: zero-initialised conditioner heads start the
    # couplings as identities, where some gradients vanish exactly.
    rng = np.random.default_rng(1)
    for w in model.trainable_weights:
      w.assign(w + rng.normal(0., 0.05, w.shape))

    @tf.function
    def step():
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.bits_per_dim(pixels))
      return loss, tape.gradient(loss, model.trainable_weights)

    loss, gradients = step()
    return model, loss, {w.path: g for w, g in
                         zip(model.trainable_weights, gradients)}

  plain, plain_loss, plain_gradients = loss_and_gradients(False)
  saving, saving_loss, saving_gradients = loss_and_gradients(mode)
  wrapper = {'recompute': tfib.Recomputed, 'inverse': tfib.Reversible}[mode]
  assert any(isinstance(b, wrapper)
             for b in tfib.base.walk_bijectors(saving.flow))
  np.testing.assert_allclose(saving_loss, plain_loss, rtol=1e-6)
  assert saving_gradients.keys() == plain_gradients.keys()
  for name, gradient in plain_gradients.items():
    np.testing.assert_allclose(saving_gradients[name], gradient, rtol=1e-5,
                               atol=1e-5 * float(np.max(np.abs(gradient))))
  # Weights saved from one load into the other.
  plain.save_weights(str(tmp_path / 'w.weights.h5'))
  saving.load_weights(str(tmp_path / 'w.weights.h5'))
  for a, b in zip(saving.weights, plain.weights):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('cls, conv, coupling', [
    (ti.GlowFlow, '1x1', 'affine'), (ti.EmergingFlow, 'emerging', 'affine'),
    (ti.SymmetricConvFlow, 'symmetric', 'conf')])
def test_named_flows_are_classes_that_save_and_rebuild(cls, conv, coupling):
  flow = cls((8, 8, 3), levels=2, depth=1, hidden_width=8)
  assert isinstance(flow, cls) and isinstance(flow, ti.CInCFlow)
  assert (flow.parameters['conv'], flow.parameters['coupling']) == (
      conv, coupling)
  rebuilt = ti.flows.flow_from_config(ti.flows.flow_config(flow))
  assert type(rebuilt) is cls
  assert [v.shape for v in rebuilt.trainable_variables] == [
      v.shape for v in flow.trainable_variables]


def test_multi_scale_flow_takes_any_step():
  def make_step(shape, index):
    return [tfib.ActNorm(shape[-1], name=f'actnorm{index}',
                         dtype=tf.float64),
            tfib.SplineCoupling(shape[-1], hidden_width=8,
                                name=f'coupling{index}', dtype=tf.float64)]

  flow = ti.flows.MultiScaleFlow((8, 8, 3), levels=2, depth=2,
                                 make_step=make_step, dtype=tf.float64)
  helpers.perturb_weights(flow, stddev=0.05)
  names = [b.name for b in tfib.base.walk_bijectors(flow)
           if b.name.startswith('coupling')]
  assert sorted(names) == ['coupling1', 'coupling2', 'coupling3', 'coupling4']
  x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 8, 8, 3))
  z_error, x_error = helpers.round_trip_errors(
      flow, np.random.default_rng(1).normal(size=(2, 192)), x)
  assert x_error < 1e-9 and z_error < 1e-9
  np.testing.assert_allclose(
      flow.inverse_log_det_jacobian(helpers.fresh(x), event_ndims=3),
      helpers.dense_log_det(flow.inverse, x), atol=1e-6)


@pytest.mark.parametrize('option, value', [
    ('conv', 'lu'), ('coupling', 'nice'), ('memory_saving', True),
    ('corners', 'bottom'), ('scale', 'softplus')])
def test_flow_options_are_checked_in_one_place(option, value):
  with pytest.raises(ValueError, match=f'{option} must be one of'):
    ti.CInCFlow((8, 8, 3), levels=2, depth=1, hidden_width=8,
                **{option: value})


def test_a_seed_gives_the_weights_it_gave_before_the_builder():
  """Layers are made in the normalizing direction's order, as before
  `MultiScaleFlow` (the checksum was printed by the code of commit b8db5db
  for the same flow and seed), so that seeded runs reproduce."""
  import keras
  keras.utils.set_random_seed(3)
  flow = ti.CInCFlow((8, 8, 3), levels=2, depth=2, hidden_width=8,
                     conv='emerging', coupling='affine')
  checksum = sum(np.sum(np.abs(v.numpy())) * (i + 1)
                 for i, v in enumerate(flow.trainable_variables))
  np.testing.assert_allclose(checksum, 27398.9921875, rtol=1e-6)


def test_an_option_of_another_coupling_is_not_checked():
  """A run saved while CONF's growth had another name ('linear') and an
  affine coupling loads."""
  ti.CInCFlow((8, 8, 3), levels=2, depth=1, hidden_width=8,
              coupling='affine', conf_growth='linear')
  with pytest.raises(ValueError, match='conf_growth must be one of'):
    ti.CInCFlow((8, 8, 3), levels=2, depth=1, hidden_width=8,
                coupling='conf', conf_growth='linear')


@pytest.mark.parametrize('df', [None, 10.])
def test_the_base_is_the_standard_normal_or_student_t(df):
  from scipy import stats
  z = np.array([[0., 1.5, -3., 1e3]], np.float64)
  base = ti.flows.base_distribution(4, tf.float64, df)
  density = stats.norm() if df is None else stats.t(df)
  np.testing.assert_allclose(base.log_prob(z), density.logpdf(z).sum(),
                             rtol=1e-12)
  # At |z| = 1e3 the t costs ~ (df + 1) log|z| nats, the normal z^2 / 2.
  cost = -float(base.log_prob(z)[0])
  assert cost < 100 if df else cost > 4e5
