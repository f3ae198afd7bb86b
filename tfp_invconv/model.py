"""FlowModel: a Keras model around a flow, trained on bits per dimension.

Pixels k in {0, ..., L-1} become x = (k + u) / L - 0.5 with u ~ U[0, 1)
(uniform dequantization), and

  bpd = -log p(x) / (D ln 2) + log2(L),   D = H * W * C,

an upper bound on the discrete model's code length in bits per dimension.
With `num_levels=None` the data are continuous vectors or images (e.g. for
`SymmetricConvVectorFlow`): no dequantization, bpd = -log p(x) / (D ln 2).

Images smaller than the flow's (28 x 28 MNIST in a flow of three squeezes,
32 x 32) are padded with pixels of level 0 before dequantization. A
discrete model of the padded image gives P(k) >= P(k, padding = 0), so

  bpd = (-log p(x_padded) / ln 2 + D_padded * log2(L)) / D,

with D the real image's dimension, is again an upper bound on the code
length of the real pixels: the padding's cost is counted, not dropped.
"""

import math
import sys

import keras
import tensorflow as tf

from tfp_invconv import flows
from tfp_invconv.bijectors import actnorm
from tfp_invconv.bijectors import base


@keras.saving.register_keras_serializable(package='tfp_invconv')
class FlowModel(keras.Model):
  """Exact-likelihood image model: `fit` minimises bits/dim.

  `flow` is a generative-direction flow from `tfp_invconv.flows` (latent ->
  image). Data fed to `fit`/`evaluate` are integer images in [0, L) (uint8,
  optionally with labels, which are ignored). Keras saving works for flows
  built by `tfp_invconv.flows`:

  ```python
  model.save('flow.keras')
  model = keras.models.load_model('flow.keras')
  ```
  """

  def __init__(self, flow, num_levels=256, seed=None, noise=None,
               dequantizer=None, validate_args=False, pixel_shape=None,
               **kwargs):
    """Wraps `flow`.

    Args:
      flow: a generative-direction flow (`CInCFlow`, ...).
      num_levels: L, grey levels per channel of the integer images, or
        None for continuous data.
      seed: seed of the dequantization noise.
      noise: dequantization used by `fit`/`evaluate`: 'uniform',
        'variational' (needs `dequantizer`; the default when one is given)
        or 'center' (deterministic, for debugging).
      dequantizer: a `VariationalDequantizer` trained jointly with the flow.
      validate_args: a NaN or Inf produced by sampling or decoding raises
        in `to_pixels` (otherwise it is reported as a count on stderr).
        Input pixels and images are always checked.
      pixel_shape: (H, W, C) of the integer images, when smaller than the
        flow's image: they are padded with level 0 at the bottom and right
        (see the module docstring). Defaults to the flow's image shape.
    """
    super().__init__(**kwargs)
    self.validate_args = validate_args
    self._seed = seed
    self.dequantizer = dequantizer
    self.noise = noise or ('variational' if dequantizer else 'uniform')
    self.flow = flow
    self.num_levels = None if num_levels is None else int(num_levels)
    self.image_shape = tuple(flow.data_shape)
    self.pixel_shape = _checked_pixel_shape(pixel_shape, self.image_shape,
                                            self.num_levels)
    self.distribution = flows.flow_distribution(flow)
    # Listing the flow's Keras layers makes Keras track every weight once.
    self.flow_layers = base.collect_keras_layers(flow)
    _check_every_variable_is_tracked(flow, self.flow_layers)
    self._actnorms = [b for b in base.walk_bijectors(flow)
                      if isinstance(b, actnorm.ActNorm)]
    self._noise = keras.random.SeedGenerator(seed)
    self.bpd_tracker = keras.metrics.Mean(name='bpd')
    self.skipped_tracker = keras.metrics.Sum(name='skipped_steps')
    # Pixels keep their integer dtype when Keras calls the model (it casts
    # inputs to the compute dtype otherwise, and float pixels are refused).
    self._convert_input_args = False
    self.built = True

  def get_config(self):
    return dict(
        super().get_config(), flow=flows.flow_config(self.flow),
        num_levels=self.num_levels, seed=self._seed, noise=self.noise,
        validate_args=self.validate_args, pixel_shape=list(self.pixel_shape),
        dequantizer=(keras.saving.serialize_keras_object(self.dequantizer)
                     if self.dequantizer else None))

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    flow = flows.flow_from_config(config.pop('flow'))
    dequantizer = config.pop('dequantizer')
    if dequantizer is not None:
      dequantizer = keras.saving.deserialize_keras_object(dequantizer)
    return cls(flow, dequantizer=dequantizer, **config)

  @property
  def metrics(self):
    return [self.bpd_tracker, self.skipped_tracker]

  @property
  def dimensions(self):
    """D of bits/dim: the dimension of the (unpadded) data."""
    return math.prod(self.pixel_shape)

  @property
  def dtype_float(self):
    return self.flow.float_dtype

  # Pixels <-> continuous data --------------------------------------------------

  def dequantize(self, pixels, noise='uniform'):
    """k -> (k + u) / L - 0.5 with u from `noise`: 'uniform' (U[0,1)),
    'variational' (the learned q(u | k)) or 'center' (u = 1/2)."""
    return self.dequantize_with_log_q(pixels, noise)[0]

  def dequantize_with_log_q(self, pixels, noise='uniform'):
    """(x, log q(u | k)) per example; log q = 0 for uniform noise."""
    k = self._padded(tf.cast(self._checked_pixels(pixels), self.dtype_float))
    log_q = tf.zeros(tf.shape(k)[:-len(self.image_shape)], self.dtype_float)
    if self.num_levels is None:
      return k, log_q
    if noise == 'center':
      u = 0.5
    elif noise == 'uniform':
      u = keras.random.uniform(tf.shape(k), dtype=self.dtype_float,
                               seed=self._noise)
    elif noise == 'variational' and self.dequantizer is not None:
      u, log_q = self.dequantizer.sample(k / self.num_levels - 0.5)
    else:
      raise ValueError(f"noise must be 'uniform', 'center' or (with a "
                       f"dequantizer) 'variational'; got {noise!r}.")
    return (k + u) / self.num_levels - 0.5, log_q

  def _padded(self, k):
    if self.pixel_shape == self.image_shape:
      return k
    rank = len(self.image_shape)
    extra = [[0, 0]] * (k.shape.rank - rank) + [
        [0, full - real] for full, real in zip(self.image_shape,
                                               self.pixel_shape)]
    return tf.pad(k, extra)

  def _cropped(self, x):
    if self.pixel_shape == self.image_shape:
      return x
    height, width, channels = self.pixel_shape
    return x[..., :height, :width, :channels]

  def to_pixels(self, x):
    """Continuous images -> integer pixels in [0, L) (uint8 when L <= 256),
    cropped to `pixel_shape`; continuous data are returned as they are.

    Values outside [-0.5, 0.5) are clipped to the first or last level; NaN
    or Inf values raise with `validate_args`, and are otherwise counted on
    stderr (they come out as level 0)."""
    x = tf.convert_to_tensor(x)
    non_finite = tf.reduce_sum(tf.cast(~tf.math.is_finite(x), tf.int32))
    if self.validate_args:
      x = tf.debugging.assert_all_finite(
          x, 'to_pixels: the decoded images contain NaN or Inf values')
    else:
      tf.cond(non_finite > 0,
              lambda: tf.print('to_pixels:', non_finite, 'NaN or Inf values '
                               'in the decoded images, output as level 0',
                               output_stream=sys.stderr),
              tf.no_op)
    if self.num_levels is None:
      return x
    x = self._cropped(x)
    x = tf.where(tf.math.is_finite(x), x, -0.5)
    k = tf.floor((x + 0.5) * self.num_levels)
    k = tf.clip_by_value(k, 0., self.num_levels - 1.)
    return tf.cast(k, tf.uint8 if self.num_levels <= 256 else tf.int32)

  # Likelihood --------------------------------------------------------------------

  def log_prob(self, x):
    """log p(x) of continuous images x in [-0.5, 0.5] (any finite data
    when `num_levels` is None)."""
    return self.distribution.log_prob(self._checked_continuous(x))

  def bits_per_dim(self, pixels, noise=None):
    """Bits/dim of integer images, dequantized with `noise` (default: the
    model's). With random noise, a one-sample estimate of the bound
    E_q[log p(x) - log q(u|k)] (in bits/dim, an upper bound)."""
    x, log_q = self.dequantize_with_log_q(pixels, noise or self.noise)
    return self._bpd_of(self.distribution.log_prob(x) - log_q)

  def _bpd_of(self, log_prob):
    bits = -log_prob / math.log(2.)
    if self.num_levels is not None:
      bits += math.prod(self.image_shape) * math.log2(self.num_levels)
    return bits / self.dimensions

  def _checked_pixels(self, pixels):
    """Integer pixels in [0, L), else one clear error (ValueError for a
    wrong dtype or shape, InvalidArgumentError for values out of range)."""
    pixels = self._checked_images(pixels, self.pixel_shape)
    if self.num_levels is None:
      return self._checked_continuous(pixels)
    if not (pixels.dtype.is_integer or pixels.dtype.is_bool):
      raise ValueError(
          f'expected integer pixels in [0, {self.num_levels}) (e.g. uint8), '
          f'got {pixels.dtype.name}; continuous images in [-0.5, 0.5] go to '
          'log_prob.')
    wide = tf.cast(pixels, tf.int64)
    message = f'pixels must lie in [0, {self.num_levels})'
    with tf.control_dependencies([
        tf.debugging.assert_non_negative(wide, message=message),
        tf.debugging.assert_less(
            wide, tf.constant(self.num_levels, tf.int64), message=message)]):
      return tf.identity(pixels)

  def _checked_continuous(self, x):
    """Finite float data (in [-0.5, 0.5] for images), else one clear error."""
    x = self._checked_images(x, self.image_shape)
    if not x.dtype.is_floating:
      raise ValueError(f'expected continuous (float) data, got '
                       f'{x.dtype.name}; integer pixels go to bits_per_dim.')
    x = tf.debugging.assert_all_finite(x, 'the data contain NaN or Inf values')
    if self.num_levels is None:
      return x
    message = 'continuous images must lie in [-0.5, 0.5]'
    half = tf.constant(0.5, x.dtype)
    with tf.control_dependencies([
        tf.debugging.assert_greater_equal(x, -half, message=message),
        tf.debugging.assert_less_equal(x, half, message=message)]):
      return tf.identity(x)

  @staticmethod
  def _checked_images(images, shape):
    images = tf.convert_to_tensor(images)
    rank = len(shape)
    if images.shape.rank is not None and (
        images.shape.rank < rank
        or not images.shape[-rank:].is_compatible_with(shape)):
      raise ValueError(f'expected data of shape [..., '
                       f'{", ".join(map(str, shape))}], got {images.shape}.')
    return images

  # Latent space ------------------------------------------------------------------

  def encode(self, x):
    """Continuous images -> flat latents z of size H*W*C. Called eagerly it
    runs a traced graph, built once per input signature (the solves' loops
    never run op by op in Python)."""
    x = tf.cast(self._checked_continuous(x), self.dtype_float)
    return self._in_graph('encode', self.flow.inverse)(x)

  def decode(self, z):
    """Flat latents -> continuous images (traced, like `encode`)."""
    z = tf.cast(z, self.dtype_float)
    return self._in_graph('decode', self.flow.forward)(z)

  def _in_graph(self, name, fn):
    """`fn` as a cached tf.function when called eagerly, compiled with XLA
    when `jit_compile` is set (`model.jit_compile = True`, or `compile(...,
    jit_compile=True)`); as it is inside an outer graph (fit, a SavedModel
    signature), which traces it anyway."""
    if not tf.executing_eagerly():
      return fn
    # Kept out of Keras' attribute tracking, which would export them.
    graphs = self.__dict__.setdefault('_graphs', {})
    key = (name, bool(self.jit_compile))
    if key not in graphs:
      graphs[key] = tf.function(fn, reduce_retracing=True,
                                jit_compile=key[1])
    return graphs[key]

  def sample(self, n, temperature=1.0, seed=None):
    """n continuous images from the model at the given temperature."""
    shape = [n, self.flow.latent_size]
    if seed is None:
      z = tf.random.normal(shape, dtype=self.dtype_float)
    else:
      z = tf.random.stateless_normal(shape, seed=[int(seed), 0],
                                     dtype=self.dtype_float)
    return self.decode(z * temperature)

  # Data-dependent initialisation -------------------------------------------------

  @property
  def initialized(self):
    return all(a.initialized for a in self._actnorms)

  def initialize(self, pixels):
    """Initialises every ActNorm from one batch of integer images, in a
    graph. Under a distribution strategy every replica runs it on its
    worker's batch and all get the statistics averaged over all of them."""
    x = self.dequantize(_images_of(pixels))
    strategy = self.distribute_strategy
    with actnorm.data_dependent_init(self._actnorms):
      if strategy.num_replicas_in_sync > 1:
        tf.function(lambda: strategy.run(self.flow.inverse, args=(x,)))()
      else:
        tf.function(self.flow.inverse)(x)

  def fit(self, x=None, *args, **kwargs):
    """`keras.Model.fit`, initialising the ActNorms on the first batch."""
    is_dataset = isinstance(x, tf.data.Dataset)
    if is_dataset:
      kwargs.setdefault('shuffle', False)  # the pipeline shuffles
      if _multi_worker(self.distribute_strategy):
        # Keras all-reduces a first batch, and collectives reject uint8.
        as_int32 = lambda *batch: tf.cast(_images_of(batch), tf.int32)
        x = x.map(as_int32)
        if isinstance(kwargs.get('validation_data'), tf.data.Dataset):
          kwargs['validation_data'] = kwargs['validation_data'].map(as_int32)
    if not self.initialized:
      first = (next(iter(x)) if is_dataset
               else _images_of(x)[:kwargs.get('batch_size') or 32])
      self.initialize(first)
    return super().fit(x, *args, **kwargs)

  # Keras training hooks ----------------------------------------------------------

  def call(self, pixels, training=False):
    return self.bits_per_dim(pixels)

  def train_step(self, data):
    pixels = _images_of(data)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(self.bits_per_dim(pixels, self.noise))
      # Replica gradients are summed: scale each by its share.
      replica_loss = loss / replicas
    weights = self.trainable_weights
    grads = tape.gradient(replica_loss, weights)
    if not self.optimizer.built:  # its variables cannot be made in a branch
      self.optimizer.build(weights)
    finite = _finite_on_every_replica([loss] + grads)
    tf.distribute.get_replica_context().merge_call(
        _apply_if, args=(self.optimizer, finite, grads, weights))
    # A skipped step's loss stays out of the running mean; the count says
    # how many there were.
    loss = _mean_over_replicas(loss)
    self.bpd_tracker.update_state(tf.where(finite, loss, 0.),
                                  sample_weight=tf.cast(finite, loss.dtype))
    self.skipped_tracker.update_state(1. - tf.cast(finite, tf.float32))
    return self._logs(self.bpd_tracker, self.skipped_tracker)

  def test_step(self, data):
    self.bpd_tracker.update_state(_mean_over_replicas(
        tf.reduce_mean(self.bits_per_dim(_images_of(data), self.noise))))
    return self._logs(self.bpd_tracker)

  @staticmethod
  def _logs(*metrics):
    multi_worker = _multi_worker(tf.distribute.get_strategy())
    # Keras reduces multi-worker logs with a mean over axis 0.
    return {m.name: tf.reshape(m.result(), [1]) if multi_worker else m.result()
            for m in metrics}


def _mean_over_replicas(value):
  """The mean of a per-replica scalar over all replicas: every replica's
  metrics then hold the global running mean, whichever replica Keras
  reports (it reports one replica's logs per batch)."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return value
  return context.all_reduce('MEAN', value)


def _check_every_variable_is_tracked(flow, layers):
  """Refuses a flow with variables that no Keras layer holds: Keras would
  silently never train them."""
  held = {id(w.value) for layer in layers for w in layer.weights}
  stray = [v.name for v in flow.trainable_variables if id(v) not in held]
  if stray:
    raise ValueError(
        f'{len(stray)} trainable variables of the flow (e.g. {stray[0]}) are '
        'not held by the Keras layer of a FlowBijectorBase, so FlowModel '
        'cannot train them; create parameters with add_weight on a Keras '
        'layer (see tfp_invconv.bijectors.base).')


def _checked_pixel_shape(pixel_shape, image_shape, num_levels):
  if pixel_shape is None:
    return image_shape
  pixel_shape = tuple(int(d) for d in pixel_shape)
  if pixel_shape == image_shape:
    return pixel_shape
  if (num_levels is None or len(pixel_shape) != 3
      or pixel_shape[-1] != image_shape[-1]
      or any(not 0 < p <= f for p, f in zip(pixel_shape, image_shape))):
    raise ValueError(
        f'pixel_shape {pixel_shape} cannot be padded to the flow\'s image '
        f'shape {image_shape}: padding needs integer images (num_levels) '
        'with the same channels and no side larger than the flow\'s.')
  return pixel_shape


def _images_of(data):
  """The images of a batch that may carry labels: x, (x,) or (x, y)."""
  if isinstance(data, (tuple, list)):
    return data[0]
  if isinstance(data, dict):
    return data['image']
  return data


def _finite_on_every_replica(tensors):
  """True where every tensor is finite on every replica, so that all of
  them take the same branch."""
  bad = tf.add_n([tf.reduce_sum(tf.cast(~tf.math.is_finite(t), tf.float32))
                  for t in tensors if t is not None])
  bad = tf.distribute.get_replica_context().all_reduce('sum', bad)
  return tf.equal(bad, 0.)


def _apply_if(strategy, optimizer, finite, grads, weights):
  """Applies the gradients unless a loss or gradient was NaN or Inf: one
  overflowing batch (an outlier image whose latent overflows float32) then
  skips its step instead of writing NaN into every weight. The condition
  runs in the cross-replica context, where a branch may all-reduce."""
  def apply():
    strategy.extended.call_for_each_replica(optimizer.apply,
                                            args=(grads, weights))

  tf.cond(strategy.experimental_local_results(finite)[0], apply, lambda: None)


def _multi_worker(strategy):
  return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
