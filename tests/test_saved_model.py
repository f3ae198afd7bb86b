"""The serving module: empty batches, per-image finiteness and the checks
of `export verify` on a model whose samples overflow."""

import numpy as np
import pytest
import tensorflow as tf

import tfp_invconv as ti
from export import saved_model, verify
from tfp_invconv.model import FlowModel

IMAGES = np.random.default_rng(0).integers(0, 17, (3, 8, 8, 1), np.uint8)


def _exported(directory, overflowing=False):
  """A tiny exported flow with its reference outputs; `overflowing` scales
  its ActNorms and CInC centre taps by e^-40 in the normalizing direction,
  so that every sample (e^+40 per layer when generating) overflows."""
  model = FlowModel(ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8),
                    num_levels=17)
  model.initialize(IMAGES)
  if overflowing:
    for variable in model.flow.trainable_variables:
      layer, name = variable.name.split('/')[-2:]
      if layer.startswith(('actnorm', 'cinc')) and name in ('log_scale:0',
                                                            'log_s:0'):
        variable.assign(tf.fill(variable.shape, -40.))
  module = saved_model.export(model, str(directory))
  verify.write_reference(module, str(directory), IMAGES)
  return tf.saved_model.load(str(directory))


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
  directory = tmp_path_factory.mktemp('saved_model')
  return directory, _exported(directory)


def test_verify_passes_with_empty_batches_and_rejections(exported):
  directory, _ = exported
  results = verify.check(str(directory))
  assert results['sample'] == 'ok'
  assert results['empty batch'] == 'ok (empty outputs)'
  assert results['bad input'].startswith('rejected')


@pytest.mark.parametrize('shape', [(3, 8, 8), (3,), (1, 3, 8, 8, 1),
                                   (3, 8, 8, 2)])
def test_every_wrong_shape_gets_the_one_message(exported, shape):
  _, loaded = exported
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r'images must have shape \[N, 8, 8, 1\]'):
    loaded.signatures['bits_per_dim'](images=tf.zeros(shape, tf.uint8))


def test_an_empty_batch_gives_empty_outputs(exported):
  _, loaded = exported
  scores = loaded.signatures['bits_per_dim'](images=tf.zeros([0, 8, 8, 1],
                                                             tf.uint8))
  assert scores['bits_per_dim'].shape == (0,)
  sampled = loaded.signatures['sample'](num=tf.constant(0),
                                        temperature=tf.constant(1.),
                                        seed=tf.constant(0))
  assert sampled['images'].shape == (0, 8, 8, 1)


def test_a_batch_scores_as_its_images_do_alone(exported):
  _, loaded = exported
  together = loaded.signatures['bits_per_dim'](images=tf.constant(IMAGES))
  alone = [loaded.signatures['bits_per_dim'](images=tf.constant(IMAGES[i:i + 1]))
           ['bits_per_dim'].numpy()[0] for i in range(len(IMAGES))]
  np.testing.assert_allclose(together['bits_per_dim'], alone, rtol=1e-5)


def test_sample_refuses_a_negative_count_and_bad_temperatures(exported):
  _, loaded = exported
  for num, temperature, message in ((-1, 1., 'num must be >= 0'),
                                    (2, float('nan'), 'temperature must be'),
                                    (2, float('inf'), 'temperature must be'),
                                    (2, -1., 'temperature must be')):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
      loaded.signatures['sample'](num=tf.constant(num),
                                  temperature=tf.constant(temperature),
                                  seed=tf.constant(0))


def test_overflowing_samples_are_flagged_and_verify_warns(tmp_path):
  loaded = _exported(tmp_path, overflowing=True)
  sampled = loaded.signatures['sample'](num=tf.constant(4),
                                        temperature=tf.constant(0.7),
                                        seed=tf.constant(3))
  assert not sampled['finite'].numpy().any()
  reference = np.load(tmp_path / 'assets.extra' / verify.REFERENCE)
  result = verify.check_samples(loaded, reference)
  assert result.startswith(verify.WARNING) and '4 of 4 samples' in result


def test_export_repeats_verify_warnings_on_stderr(capsys):
  from export import __main__ as export_cli
  export_cli._warn_about({'log_prob': 'ok',
                          'sample': f'{verify.WARNING} 4 of 4 samples'})
  assert capsys.readouterr().err == f'sample: {verify.WARNING} 4 of 4 samples\n'


def test_sample_draws_from_the_model_s_student_t_base(tmp_path):
  model = FlowModel(ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8),
                    num_levels=17, base_df=4.)
  model.initialize(IMAGES)
  saved_model.export(model, str(tmp_path))
  served = tf.saved_model.load(str(tmp_path)).signatures['sample'](
      num=tf.constant(3), temperature=tf.constant(0.7), seed=tf.constant(2))
  expected, _ = model.to_pixels(model.sample(3, 0.7, seed=2))
  np.testing.assert_array_equal(served['images'], expected)
