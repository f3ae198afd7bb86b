"""FlowModel: Keras training, custom loops, checkpoints, latent space."""

import numpy as np
import pytest
import tensorflow as tf
import keras
from sklearn.datasets import load_digits

import tfp_invconv as ti
from tfp_invconv.model import FlowModel


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


def test_encode_decode_recovers_the_pixels():
  model = _model()
  model.initialize(_digits(64))
  pixels = _digits(8)
  z = model.encode(model.dequantize(pixels, noise='center'))
  assert z.shape == (8, 64)
  np.testing.assert_array_equal(model.to_pixels(model.decode(z)), pixels)


def test_sample_is_reproducible_with_a_seed():
  model = _model()
  a = model.sample(3, temperature=0.7, seed=5)
  b = model.sample(3, temperature=0.7, seed=5)
  assert a.shape == (3, 8, 8, 1)
  np.testing.assert_array_equal(a, b)


def test_bad_image_shape_is_a_clear_error():
  model = _model()
  with pytest.raises(ValueError, match=r'expected data of shape \[\.\.\., 8, 8, 1\]'):
    model.bits_per_dim(np.zeros([2, 8, 8, 3], np.uint8))
