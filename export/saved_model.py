"""Builds the serving module of a trained FlowModel and saves it.

Signatures (images are uint8 [N, H, W, C] integer pixels in [0, L)):
  log_prob(images)        -> log_prob: log density of the bin-centre images
  bits_per_dim(images)    -> bits_per_dim (bin-centre dequantization)
  encode(images)          -> z [N, H*W*C], bin-centre dequantization
  decode(z)               -> images (uint8), continuous (float, in [-0.5, 0.5)),
                             finite (bool [N]: every decoded value finite)
  sample(num, temperature, seed) -> images (uint8), finite (bool [N])
  serving_default         = bits_per_dim
Bin centres make encode/decode exact on integer images and the outputs
deterministic, so they can be compared across processes. An empty batch
(N = 0, or num = 0) gives empty outputs.
"""

import tensorflow as tf

from tfp_invconv import latent


class FlowServing(tf.Module):
  """tf.functions over a FlowModel with fixed input signatures."""

  def __init__(self, model):
    super().__init__(name='flow_serving')
    self.model = model
    self.flow = model.flow  # tracks the raw variables for the C++ loader
    # Any shape is accepted and checked in the graph, so that a serving
    # client sending a wrong one gets a message naming the expected shape.
    pixel_spec = tf.TensorSpec([None, None, None, None], tf.uint8,
                               name='images')
    latent_spec = tf.TensorSpec([None, None], model.dtype_float, name='z')
    self.log_prob = tf.function(self._log_prob, input_signature=[pixel_spec])
    self.bits_per_dim = tf.function(self._bits_per_dim,
                                    input_signature=[pixel_spec])
    self.encode = tf.function(self._encode, input_signature=[pixel_spec])
    self.decode = tf.function(self._decode, input_signature=[latent_spec])
    self.sample = tf.function(self._sample, input_signature=[
        tf.TensorSpec([], tf.int32, name='num'),
        tf.TensorSpec([], tf.float32, name='temperature'),
        tf.TensorSpec([], tf.int32, name='seed')])

  def _checked_shape(self, value, shape, name):
    """value, if it is a batch [N, *shape]; else one error naming the
    expected shape (whatever the rank it came with)."""
    expected = ', '.join(['N'] + [str(d) for d in shape])
    actual = tf.shape(value)
    # Padded so that the comparison has its length whatever the rank.
    padded = tf.concat([actual, tf.fill([len(shape) + 1], -1)], axis=0)
    matches = (tf.equal(tf.size(actual), len(shape) + 1)
               & tf.reduce_all(tf.equal(padded[1:len(shape) + 1],
                                        tf.constant(shape, tf.int32))))
    check = tf.debugging.assert_equal(
        matches, True, message=f'{name} must have shape [{expected}]')
    with tf.control_dependencies([check]):
      return tf.ensure_shape(tf.identity(value), [None] + list(shape))

  @staticmethod
  def _per_example(function, batch):
    """function(batch) with every output cut to the batch's N. An empty
    batch runs as one zero example (the convolutions refuse N = 0) and
    gives empty outputs."""
    n = tf.shape(batch)[0]
    zero = tf.zeros(tf.concat([[1], tf.shape(batch)[1:]], 0), batch.dtype)
    padded = tf.concat([batch, zero], axis=0)
    outputs = function(padded[:tf.maximum(n, 1)])
    return {key: value[:n] for key, value in outputs.items()}

  def _pixels(self, images):
    return self._checked_shape(images, self.model.pixel_shape, 'images')

  def _centre(self, images):
    return self.model.dequantize(images, noise='center')

  def _log_prob(self, images):
    return self._per_example(
        lambda x: {'log_prob': self.model.log_prob(self._centre(x))},
        self._pixels(images))

  def _bits_per_dim(self, images):
    return self._per_example(
        lambda x: {'bits_per_dim': self.model.bits_per_dim(x, noise='center')},
        self._pixels(images))

  def _encode(self, images):
    return self._per_example(
        lambda x: {'z': self.model.encode(self._centre(x))},
        self._pixels(images))

  def _decode(self, z):
    z = self._checked_shape(z, [self.model.flow.latent_size], 'z')
    return self._per_example(self._decoded, z)

  def _decoded(self, z):
    continuous = self.model.decode(z)
    images, finite = self.model.to_pixels(continuous)
    return {'images': images, 'continuous': continuous, 'finite': finite}

  def _sample(self, num, temperature, seed):
    checks = [
        tf.debugging.assert_non_negative(num, message='num must be >= 0'),
        tf.debugging.assert_positive(
            temperature, message='temperature must be finite and > 0'),
        tf.debugging.assert_all_finite(
            temperature, message='temperature must be finite and > 0')]
    with tf.control_dependencies(checks):
      num = tf.identity(num)
    z = latent.base_draws(num, self.model.flow.latent_size,
                          self.model.dtype_float, self.model.base_df, seed)
    z = z * tf.cast(temperature, self.model.dtype_float)
    outputs = self._per_example(self._decoded, z)
    return {'images': outputs['images'], 'finite': outputs['finite']}

  def signatures(self):
    functions = {name: getattr(self, name) for name in (
        'log_prob', 'bits_per_dim', 'encode', 'decode', 'sample')}
    functions['serving_default'] = self.bits_per_dim
    return functions


def export(model, out):
  """Saves `model` as a SavedModel in `out`; returns the serving module."""
  module = FlowServing(model)
  # Serving runs no gradients: the custom gradients of memory saving are
  # left out rather than traced for every op that has one.
  tf.saved_model.save(module, out, signatures=module.signatures(),
                      options=tf.saved_model.SaveOptions(
                          experimental_custom_gradients=False))
  return module
