"""FlowModel: Keras training, custom loops, checkpoints, latent space."""

import numpy as np
import pytest
import tensorflow as tf
import keras
from sklearn.datasets import load_digits

import tfp_invconv as ti
from tfp_invconv.model import FlowModel
from tests import helpers


def _digits(n=256):
  return load_digits().images[:n].astype(np.uint8)[..., None]  # 17 levels


def _model(conv='cinc', coupling='quad'):
  flow = ti.CInCFlow((8, 8, 1), levels=2, depth=2, hidden_width=16,
                     conv=conv, coupling=coupling)
  return FlowModel(flow, num_levels=17, seed=0)


def test_weights_are_listed_once_by_keras_and_tf_module():
  model = _model()
  keras_vars = {id(w.value) for w in model.trainable_weights}
  module_vars = {id(v) for v in model.flow.trainable_variables}
  assert len(keras_vars) == len(model.trainable_weights)
  assert len(module_vars) == len(model.flow.trainable_variables)
  assert keras_vars == module_vars


@pytest.mark.slow
def test_fit_lowers_bits_per_dim():
  model = _model()
  data = tf.data.Dataset.from_tensor_slices(_digits()).batch(64)
  model.compile(optimizer=keras.optimizers.Adam(2e-3))
  before = model.evaluate(data, verbose=0)
  history = model.fit(data, epochs=4, verbose=0)
  after = model.evaluate(data, verbose=0)
  assert model.initialized
  assert after < before - 0.2, (before, after)
  assert history.history['bpd'][-1] < history.history['bpd'][0]


def test_a_step_with_an_overflowing_loss_is_skipped_not_applied():
  model = _model('emerging', 'affine')
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  pixels = _digits(32)
  model.fit(pixels, batch_size=32, epochs=1, verbose=0)  # builds everything
  actnorm, = [a for a in model._actnorms if a.name == 'actnorm_l1s1']
  bias, log_scale = actnorm.trainable_variables
  kept = [bias.numpy(), log_scale.numpy()]
  # Finite weights whose output overflows float32: (x + 3e38) * e^1.
  bias.assign(np.full_like(kept[0], 3e38))
  log_scale.assign(np.ones_like(kept[1]))
  before = [w.numpy() for w in model.trainable_weights]
  iterations = int(model.optimizer.iterations)
  logs = model.train_on_batch(pixels, return_dict=True)
  assert logs['skipped_steps'] == 1.
  assert int(model.optimizer.iterations) == iterations
  for old, new in zip(before, model.trainable_weights):
    np.testing.assert_array_equal(old, new.numpy())
  bias.assign(kept[0])
  log_scale.assign(kept[1])
  logs = model.train_on_batch(pixels, return_dict=True)
  assert logs['skipped_steps'] == 0.
  assert np.isfinite(logs['bpd']) and int(model.optimizer.iterations) == (
      iterations + 1)


def test_actnorm_initialisation_normalises_the_first_batch():
  model = _model()
  model.initialize(_digits(128))
  first_actnorm, = [a for a in model._actnorms if a.name == 'actnorm_l1s1']
  assert first_actnorm.initialized
  x = model.dequantize(_digits(128))
  squeezed = tf.nn.space_to_depth(x, 2)
  h = first_actnorm.forward(squeezed)
  np.testing.assert_allclose(tf.reduce_mean(h, [0, 1, 2]), 0., atol=0.05)
  np.testing.assert_allclose(tf.math.reduce_std(h, [0, 1, 2]), 1., atol=0.05)


def test_gradient_tape_loop_over_flow_variables():
  model = _model('emerging', 'affine')
  pixels = _digits(64)
  model.initialize(pixels)
  optimizer = keras.optimizers.Adam(2e-3)
  variables = model.flow.trainable_variables

  def loss():
    return tf.reduce_mean(model.bits_per_dim(pixels, noise='center'))

  start = float(loss())
  for _ in range(15):
    with tf.GradientTape() as tape:
      value = loss()
    optimizer.apply(tape.gradient(value, variables), variables)
  assert float(loss()) < start - 0.1


@pytest.mark.parametrize('conv,coupling', [('cinc', 'quad'),
                                           ('emerging', 'affine')])
def test_save_weights_and_checkpoint_restore_exactly(tmp_path, conv, coupling):
  model = _model(conv, coupling)
  model.initialize(_digits(64))
  for w in model.trainable_weights:
    w.assign(w + 0.01 * np.random.default_rng(0).normal(size=w.shape))
  pixels = _digits(16)
  expected = model.bits_per_dim(pixels, noise='center').numpy()

  model.save_weights(str(tmp_path / 'm.weights.h5'))
  restored = _model(conv, coupling)
  restored.load_weights(str(tmp_path / 'm.weights.h5'))
  np.testing.assert_array_equal(
      restored.bits_per_dim(pixels, noise='center'), expected)
  assert restored.initialized

  path = tf.train.Checkpoint(flow=model.flow).save(str(tmp_path / 'ckpt'))
  from_checkpoint = _model(conv, coupling)
  tf.train.Checkpoint(flow=from_checkpoint.flow).restore(path).assert_consumed()
  np.testing.assert_array_equal(
      from_checkpoint.bits_per_dim(pixels, noise='center'), expected)
  assert from_checkpoint.initialized


def _perturbed(model, scale=0.1, seed=0):
  """`model` with every trainable weight moved by N(0, scale^2) noise: round
  trips then go through non-trivial couplings and convolutions."""
  rng = np.random.default_rng(seed)
  for weight in model.trainable_weights:
    weight.assign(weight + rng.normal(0., scale, weight.shape))
  return model


def test_encode_decode_recovers_the_pixels_before_rounding():
  model = _model()
  model.initialize(_digits(64))
  _perturbed(model)
  pixels = _digits(8)
  x = model.dequantize(pixels, noise='center')
  z = model.encode(x)
  assert z.shape == (8, 64)
  assert np.std(z) > 0.5  # the latents are far from the images
  continuous = model.decode(z)
  assert np.max(np.abs(continuous - x)) < 1e-5
  decoded, finite = model.to_pixels(continuous)
  np.testing.assert_array_equal(decoded, pixels)
  assert finite.numpy().all()


def test_a_sample_decodes_the_seeded_latent_at_its_temperature():
  model = _perturbed(_model())
  a = model.sample(3, temperature=0.7, seed=5)
  assert a.shape == (3, 8, 8, 1)
  np.testing.assert_array_equal(a, model.sample(3, temperature=0.7, seed=5))
  assert np.mean(np.abs(a - model.sample(3, temperature=0.7, seed=6))) > 0.01
  z = tf.random.stateless_normal([3, 64], seed=[5, 0])
  # An untrained flow's samples leave [-0.5, 0.5], which encode refuses:
  # the latent space itself maps them back.
  np.testing.assert_allclose(model.latent_space.encode(a), 0.7 * z,
                             atol=1e-4)


def test_bad_image_shape_is_a_clear_error():
  model = _model()
  with pytest.raises(ValueError, match=r'expected data of shape \[\.\.\., 8, 8, 1\]'):
    model.bits_per_dim(np.zeros([2, 8, 8, 3], np.uint8))


def test_flow_model_finds_layers_under_plain_tfb_invert():
  import tensorflow_probability as tfp
  from tfp_invconv import bijectors as tfib
  tfb = tfp.bijectors
  conv = tfib.CInCConv2D(1)
  flow = tfb.Invert(tfb.Chain([tfb.Reshape([64], [8, 8, 1]), conv]))
  assert not isinstance(flow, tfb.Invert)  # TFP's plain _Invert
  flow.data_shape, flow.latent_size, flow.float_dtype = (8, 8, 1), 64, tf.float32
  model = FlowModel(flow, num_levels=17)
  held = {id(w.value) for w in model.trainable_weights}
  assert conv.trainable_variables and all(
      id(v) in held for v in conv.trainable_variables)


def test_flow_model_refuses_variables_it_cannot_train():
  import tensorflow_probability as tfp
  tfb = tfp.bijectors
  flow = tfb.Invert(tfb.Chain([tfb.Reshape([64], [8, 8, 1]),
                               tfb.Shift(tf.Variable(tf.zeros([8, 8, 1])))]))
  flow.data_shape, flow.latent_size, flow.float_dtype = (8, 8, 1), 64, tf.float32
  with pytest.raises(ValueError, match='not held by the Keras layer'):
    FlowModel(flow, num_levels=17)


def test_sample_encode_decode_trace_once_then_take_any_batch_size():
  model = FlowModel(ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8),
                    num_levels=17)
  graphs = model.latent_space.graphs
  for seed in range(3):
    model.sample(4, 0.7, seed=seed)
  assert graphs['decode', False].experimental_get_tracing_count() == 1
  model.sample(6, 0.7, seed=0)  # a new size relaxes the batch dimension
  model.sample(9, 0.7, seed=0)
  assert graphs['decode', False].experimental_get_tracing_count() == 2
  pixels = load_digits().images[:4].astype(np.uint8)[..., None]
  z = model.encode(model.dequantize(pixels, noise='center'))
  model.encode(model.dequantize(pixels, noise='center'))
  assert graphs['encode', False].experimental_get_tracing_count() == 1
  assert z.shape == (4, 64)


@pytest.mark.parametrize('pixels,error,message', [
    (np.full((2, 8, 8, 1), 17, np.uint8), tf.errors.InvalidArgumentError,
     r'pixels must lie in \[0, 17\)'),
    (np.full((2, 8, 8, 1), -1, np.int32), tf.errors.InvalidArgumentError,
     r'pixels must lie in \[0, 17\)'),
    (np.full((2, 8, 8, 1), 0.5, np.float32), ValueError,
     r'expected integer pixels in \[0, 17\)'),
    (np.zeros((2, 8, 8, 3), np.uint8), ValueError, 'expected data of shape'),
])
def test_bits_per_dim_refuses_bad_pixels(pixels, error, message):
  model = FlowModel(ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8),
                    num_levels=17)
  with pytest.raises(error, match=message):
    model.bits_per_dim(pixels)
  with pytest.raises(error, match=message):
    tf.function(model.bits_per_dim)(pixels)


@pytest.mark.parametrize('value', [np.nan, np.inf, 0.7])
def test_log_prob_refuses_non_finite_or_out_of_range_images(value):
  model = FlowModel(ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8),
                    num_levels=17)
  x = np.zeros((2, 8, 8, 1), np.float32)
  x[1, 3, 3, 0] = value
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='NaN or Inf|must lie in'):
    model.log_prob(x)


def test_to_pixels_flags_each_non_finite_image():
  model = FlowModel(ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8),
                    num_levels=17)
  x = np.zeros((3, 8, 8, 1), np.float32)
  x[0, :2, 0, 0] = np.nan
  x[2, 5, 5, 0] = np.inf
  pixels, finite = model.to_pixels(x)
  np.testing.assert_array_equal(finite, [False, True, False])
  assert pixels.dtype == tf.uint8 and pixels.shape == (3, 8, 8, 1)
  strict = FlowModel(model.flow, num_levels=17, validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match='NaN or Inf'):
    strict.to_pixels(x)


def test_keras_native_saving_round_trip(tmp_path):
  from tfp_invconv.dequantization import VariationalDequantizer
  pixels = load_digits().images[:32].astype(np.uint8)[..., None]
  flow = ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8,
                     coupling='affine', centre='triangular')
  model = FlowModel(flow, num_levels=17, seed=3,
                    dequantizer=VariationalDequantizer((8, 8, 1),
                                                       hidden_width=4,
                                                       steps=1))
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  model.fit(tf.data.Dataset.from_tensor_slices(pixels).batch(16), epochs=1,
            verbose=0)
  path = str(tmp_path / 'flow.keras')
  model.save(path)
  loaded = keras.models.load_model(path)
  assert loaded.flow.parameters['centre'] == 'triangular'
  assert loaded.initialized
  np.testing.assert_allclose(
      loaded.bits_per_dim(pixels, 'center'), model.bits_per_dim(pixels,
                                                                'center'),
      rtol=1e-6)
  np.testing.assert_allclose(loaded.sample(4, 0.7, seed=1),
                             model.sample(4, 0.7, seed=1), atol=1e-5)


def test_actnorm_initialisation_happens_once():
  from tfp_invconv.bijectors import actnorm
  model = _model()
  model.initialize(_digits(128))
  before = [w.numpy() for w in model.trainable_weights]
  with actnorm.data_dependent_init(model._actnorms):
    model.flow.inverse(model.dequantize(_digits(8)))
  model.initialize(_digits(8))
  for b, w in zip(before, model.trainable_weights):
    np.testing.assert_array_equal(b, w.numpy())


def _padded_pair():
  """A flow over 8 x 8 images, as a model of 6 x 7 pixels and of 8 x 8."""
  flow = ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8)
  helpers.perturb_weights(flow)
  return (FlowModel(flow, num_levels=17, pixel_shape=(6, 7, 1)),
          FlowModel(flow, num_levels=17))


def test_padding_pads_with_level_zero_and_counts_its_bits():
  padded, full = _padded_pair()
  pixels = _digits(4)[:, 1:7, :7]
  by_hand = np.pad(pixels, [(0, 0), (0, 2), (0, 1), (0, 0)])
  np.testing.assert_allclose(
      padded.bits_per_dim(pixels, noise='center') * (6 * 7),
      full.bits_per_dim(by_hand, noise='center') * (8 * 8), rtol=1e-5)
  assert padded.dimensions == 42


def test_padded_model_decodes_and_samples_the_real_image_size():
  padded, _ = _padded_pair()
  pixels = _digits(4)[:, 1:7, :7]
  z = padded.encode(padded.dequantize(pixels, noise='center'))
  assert z.shape == (4, 64)
  np.testing.assert_array_equal(padded.to_pixels(padded.decode(z))[0], pixels)
  sampled, finite = padded.to_pixels(padded.sample(2, seed=1))
  assert sampled.shape == (2, 6, 7, 1) and finite.shape == (2,)
  with pytest.raises(ValueError, match=r'shape \[\.\.\., 6, 7, 1\]'):
    padded.bits_per_dim(_digits(2))


@pytest.mark.parametrize('pixel_shape, num_levels', [
    ((9, 8, 1), 17), ((6, 6, 3), 17), ((6, 6, 1), None)])
def test_padding_that_cannot_work_is_refused(pixel_shape, num_levels):
  flow = ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8)
  with pytest.raises(ValueError, match='cannot be padded'):
    FlowModel(flow, num_levels=num_levels, pixel_shape=pixel_shape)


def test_bin_centre_bits_per_dim_scores_copies_of_an_image_alike():
  model = _model()
  digit = _digits(1)
  copies = np.concatenate([digit, digit])
  model.initialize(_digits())
  centre = model.bits_per_dim(copies, noise='center').numpy()
  assert centre[0] == centre[1]
  uniform = model.bits_per_dim(copies).numpy()  # one noise draw per copy
  assert uniform[0] != uniform[1]


def test_held_out_bits_per_dim_is_the_mean_over_images_not_batches():
  flow = ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8)
  model = FlowModel(flow, num_levels=17, seed=0, noise='center')
  images = _digits(10)
  model.initialize(images)
  model.compile(optimizer='adam')
  batches = tf.data.Dataset.from_tensor_slices(images).batch(4)  # 4, 4, 2
  held_out = model.evaluate(batches, verbose=0, return_dict=True)['bpd']
  per_image = model.bits_per_dim(images, noise='center').numpy()
  np.testing.assert_allclose(held_out, per_image.mean(), rtol=1e-6)
  assert abs(per_image.mean() - np.mean(
      [per_image[:4].mean(), per_image[4:8].mean(), per_image[8:].mean()])) > 1e-4


def test_a_student_t_base_scores_samples_and_saves_with_the_model():
  from scipy import stats
  from tfp_invconv import latent
  normal = _perturbed(_model())
  t_base = FlowModel(normal.flow, num_levels=17, seed=0, base_df=5.)
  images = _digits(4)
  z = normal.latent_space.encode(normal.dequantize(images, 'center'))
  # Same flow: the bits/dim differ by the bases' log-densities of z alone.
  difference = (stats.norm.logpdf(z).sum(1) - stats.t(5.).logpdf(z).sum(1)
                ) / (64 * np.log(2))
  np.testing.assert_allclose(
      t_base.bits_per_dim(images, 'center') -
      normal.bits_per_dim(images, 'center'), difference, atol=1e-4)
  sample = t_base.sample(3, temperature=0.7, seed=5)
  np.testing.assert_allclose(
      t_base.latent_space.encode(sample),
      0.7 * latent.base_draws(3, 64, tf.float32, 5., seed=5), atol=1e-3)
  restored = FlowModel.from_config(t_base.get_config())
  assert restored.base_df == 5.
