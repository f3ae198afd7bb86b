"""Latent-space tools: interpolation and attribute manipulation."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import tfp_invconv as ti
from tfp_invconv import latent
from tfp_invconv.model import FlowModel
from training import __main__ as cli
from training import artifacts, data


def _digits_model():
  """An initialised flow with perturbed weights, so that its latents are
  far from the images and a round trip's errors are not hidden."""
  model = FlowModel(ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8),
                    num_levels=17)
  model.initialize(next(iter(data.load('digits').images.batch(64))))
  rng = np.random.default_rng(0)
  for weight in model.trainable_weights:
    weight.assign(weight + rng.normal(0., 0.1, weight.shape))
  return model


def test_interpolation_starts_and_ends_at_the_images():
  model = _digits_model()
  images = next(iter(data.load('digits', 'test').images.batch(2))).numpy()
  path, finite = latent.interpolate(model, images[0], images[1], num=5)
  path = path.numpy()
  assert finite.shape == (5,)
  assert path.shape == (5, 8, 8, 1)
  np.testing.assert_array_equal(path[0], images[0])
  np.testing.assert_array_equal(path[-1], images[1])
  x = model.dequantize(images, noise='center')
  assert np.max(np.abs(model.decode(model.encode(x)) - x)) < 1e-5


def test_attribute_direction_is_the_difference_of_latent_means():
  model = _digits_model()
  labelled = data.load_labelled('digits', 3).take(200)
  direction = latent.attribute_direction(model, labelled.batch(64))
  pixels = np.stack([p for p, _ in labelled.as_numpy_iterator()])
  labels = np.array([l for _, l in labelled.as_numpy_iterator()])
  z = model.encode(model.dequantize(pixels, noise='center')).numpy()
  expected = z[labels].mean(0) - z[~labels].mean(0)
  np.testing.assert_allclose(direction, expected, rtol=1e-4, atol=1e-5)
  moved, finite = latent.manipulate(model, pixels[:2], direction, [0., 1.])
  moved = moved.numpy()
  assert finite.shape == (2, 2)
  np.testing.assert_array_equal(moved[0], pixels[:2])


def test_attribute_direction_needs_both_groups():
  model = _digits_model()
  only_threes = data.load_labelled('digits', 3).filter(lambda x, y: y)
  with pytest.raises(ValueError, match='with and without'):
    latent.attribute_direction(model, only_threes.take(10).batch(10))


@pytest.mark.slow
def test_manipulate_and_interpolate_commands_on_mock_celeba(tmp_path):
  run = str(tmp_path / 'run')
  config = dict(levels=2, depth=1, hidden_width=8, conv='cinc',
                coupling='quad', dataset='celeb_a', image_shape=[64, 64, 3],
                num_levels=256, seed=0)
  artifacts.save_config(run, config)
  with tfds.testing.mock_data(num_examples=12):
    model = artifacts.build_model(config)
    model.initialize(next(iter(data.load('celeb_a').images.batch(12))))
    model.save_weights(f'{run}/{artifacts.WEIGHTS}')
    cli.main(['manipulate', '--run', run, '--attribute', 'Smiling',
              '--num', '2', '--examples', '12', '--scales', '-1', '1'])
    cli.main(['interpolate', '--run', run, '--pairs', '0', '1', '--num', '3'])
  assert (tmp_path / 'run' / 'manipulate_Smiling.png').exists()
  assert (tmp_path / 'run' / 'interpolation.png').exists()
  assert np.load(f'{run}/direction_Smiling.npy').shape == (64 * 64 * 3,)


def test_base_draws_are_seeded_normal_or_student_t():
  import tensorflow as tf
  from scipy import stats
  normal = latent.base_draws(4, 5, tf.float64, seed=3)
  np.testing.assert_array_equal(
      normal, tf.random.stateless_normal([4, 5], [3, 0], dtype=tf.float64))
  draws = latent.base_draws(4000, 5, tf.float64, df=4., seed=3)
  np.testing.assert_array_equal(
      draws, latent.base_draws(4000, 5, tf.float64, df=4., seed=3))
  assert not np.array_equal(draws, latent.base_draws(4000, 5, tf.float64,
                                                     df=4., seed=4))
  # 20,000 draws of t_4 pass a KS test against t_4 and fail it against N(0, 1).
  flat = np.ravel(draws)
  assert stats.kstest(flat, stats.t(4).cdf).pvalue > 0.01
  assert stats.kstest(flat, stats.norm.cdf).pvalue < 1e-6
