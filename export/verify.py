"""Checks an exported SavedModel outside the training stack.

Run as a fresh process that imports only tensorflow: loads the SavedModel,
calls every signature on the reference inputs saved beside it at export
time, compares with the Python model's outputs, and rejects bad inputs.

  python -m export.verify DIR
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

REFERENCE = 'reference.npz'
# Starts a result that `python -m export` passes on as a warning.
WARNING = 'WARNING:'


def check(saved_model_dir, rtol=1e-4):
  loaded = tf.saved_model.load(saved_model_dir)
  reference = np.load(os.path.join(saved_model_dir, 'assets.extra',
                                   REFERENCE))
  images = tf.constant(reference['images'])
  results = {}
  for name, key in (('log_prob', 'log_prob'), ('bits_per_dim', 'bits_per_dim'),
                    ('encode', 'z')):
    got = loaded.signatures[name](images=images)[key].numpy()
    np.testing.assert_allclose(got, reference[key], rtol=rtol, atol=1e-4)
    results[name] = 'ok'
  decoded = loaded.signatures['decode'](z=tf.constant(reference['z']))
  np.testing.assert_array_equal(decoded['images'].numpy(), reference['images'])
  assert decoded['finite'].numpy().all(), 'decode flags finite latents'
  levels = int(reference['num_levels'])
  centres = (reference['images'] + 0.5) / levels - 0.5
  height, width, channels = centres.shape[1:]  # the rest is padding
  continuous = decoded['continuous'].numpy()[:, :height, :width, :channels]
  error = float(np.max(np.abs(continuous - centres)))
  assert error < 1e-5, f'decode(encode(x)) is {error:.2e} off x'
  results['decode'] = f'ok (round trip within {error:.0e} before rounding)'
  results['sample'] = check_samples(loaded, reference)
  results['empty batch'] = check_empty_batches(loaded, reference)
  results['bad input'] = check_rejections(loaded, reference)
  return results


def check_samples(loaded, reference):
  """'ok' when `sample` gives the reference samples, all finite; a warning
  naming how many overflowed otherwise."""
  sampled = loaded.signatures['sample'](
      num=tf.constant(4), temperature=tf.constant(0.7), seed=tf.constant(3))
  np.testing.assert_array_equal(sampled['images'].numpy(),
                                reference['samples'])
  overflowed = int(np.sum(~sampled['finite'].numpy()))
  return ('ok' if not overflowed else
          f'{WARNING} {overflowed} of 4 samples at T = 0.7 overflowed (NaN '
          'or Inf values; flagged in "finite")')


def write_reference(module, directory, images):
  """Reference outputs of the serving `module` on `images`, beside the
  SavedModel in `directory`, for `check`."""
  extra = os.path.join(directory, 'assets.extra')
  os.makedirs(extra, exist_ok=True)
  np.savez(os.path.join(extra, REFERENCE), images=images,
           num_levels=module.model.num_levels,
           log_prob=module.log_prob(images)['log_prob'].numpy(),
           bits_per_dim=module.bits_per_dim(images)['bits_per_dim'].numpy(),
           z=module.encode(images)['z'].numpy(),
           samples=module.sample(np.int32(4), np.float32(0.7),
                                 np.int32(3))['images'].numpy())


def check_empty_batches(loaded, reference):
  """N = 0 images, latents or samples give empty outputs of the right
  shapes."""
  images, z = reference['images'][:0], reference['z'][:0]
  for name, key, shape in (('log_prob', 'log_prob', (0,)),
                           ('bits_per_dim', 'bits_per_dim', (0,)),
                           ('encode', 'z', z.shape)):
    got = loaded.signatures[name](images=tf.constant(images))[key]
    assert got.shape == shape, (name, got.shape)
  decoded = loaded.signatures['decode'](z=tf.constant(z))
  assert decoded['images'].shape == images.shape, decoded['images'].shape
  sampled = loaded.signatures['sample'](
      num=tf.constant(0), temperature=tf.constant(1.), seed=tf.constant(0))
  assert sampled['images'].shape == images.shape, sampled['images'].shape
  assert sampled['finite'].shape == (0,), sampled['finite'].shape
  return 'ok (empty outputs)'


def _rejects(signature, message, **inputs):
  """True when `signature` refuses `inputs` with an error naming `message`."""
  try:
    signature(**inputs)
  except (tf.errors.InvalidArgumentError, TypeError, ValueError) as error:
    return message in str(error)
  return False


def check_rejections(loaded, reference):
  """Every signature that takes images refuses a wrong shape, a wrong
  dtype and (when the model has fewer than 256 levels) out-of-range pixels
  with a clear error."""
  images = reference['images']
  levels = int(reference['num_levels'])
  wrong_shape = np.zeros((1,) + images.shape[1:-1] + (7,), np.uint8)
  for name in ('log_prob', 'bits_per_dim', 'encode'):
    signature = loaded.signatures[name]
    assert _rejects(signature, 'images must have shape',
                    images=tf.constant(wrong_shape)), name
    assert _rejects(signature, 'expected to be a uint8',
                    images=tf.constant(images.astype(np.float32))), name
    if levels < 256:
      too_high = np.full_like(images[:1], levels)
      assert _rejects(signature, f'pixels must lie in [0, {levels})',
                      images=tf.constant(too_high)), name
  for bad in (images[..., 0], images[:, 0, 0, 0], images[None]):  # rank 3, 1, 5
    assert _rejects(loaded.signatures['bits_per_dim'],
                    'images must have shape', images=tf.constant(bad))
  z = reference['z']
  assert _rejects(loaded.signatures['decode'], 'z must have shape',
                  z=tf.constant(z[:, :-1]))
  sample = loaded.signatures['sample']
  for num, temperature, message in ((-1, 0.7, 'num must be'),
                                    (2, float('nan'), 'temperature must be'),
                                    (2, 0., 'temperature must be')):
    assert _rejects(sample, message, num=tf.constant(num),
                    temperature=tf.constant(temperature),
                    seed=tf.constant(0)), (num, temperature)
  return 'rejected (shape, rank, dtype, range, num, temperature)'


def main():
  results = check(sys.argv[1])
  loaded_modules = sorted(m for m in sys.modules
                          if m.startswith(('tensorflow_probability',
                                           'tfp_invconv', 'keras')))
  assert not [m for m in loaded_modules if not m.startswith('keras')
              ], loaded_modules
  print(json.dumps(results))


if __name__ == '__main__':
  main()
