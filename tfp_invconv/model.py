"""FlowModel: a Keras model around a flow, trained on bits per dimension.

`pixels.PixelCodec` checks, pads and (de)quantizes the images (the bits/dim
formula is in its module); `latent.LatentSpace` encodes, decodes and
samples in traced graphs. FlowModel adds the Keras side: `fit` (ActNorm's
data-dependent initialisation on the first batch), the train and test
steps, and the skipped step when a loss or gradient is NaN or Inf.
"""

import keras
import tensorflow as tf

from tfp_invconv import flows
from tfp_invconv import latent
from tfp_invconv import pixels as pixels_lib
from tfp_invconv import precision
from tfp_invconv import replicas
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
  model = FlowModel(ti.CInCFlow((32, 32, 1), levels=3), num_levels=256,
                    pixel_shape=(28, 28, 1))
  model.compile(optimizer=keras.optimizers.Adamax(1e-3))
  model.fit(uint8_images, batch_size=64, epochs=10)
  images, finite = model.to_pixels(model.sample(16, temperature=0.7))
  model.save('flow.keras')
  ```
  """

  def __init__(self, flow, num_levels=256, seed=None, noise=None,
               dequantizer=None, validate_args=False, pixel_shape=None,
               base_df=None, mixed_precision=False, **kwargs):
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
        in `to_pixels` (otherwise it is flagged in its mask). Input pixels
        and images are always checked.
      pixel_shape: (H, W, C) of the integer images, when smaller than the
        flow's image: they are padded with level 0 at the bottom and right
        (`pixels.PixelCodec`). Defaults to the flow's image shape.
      base_df: None for the standard normal base, or the degrees of freedom
        of a Student's t base (`flows.base_distribution`).
      mixed_precision: bfloat16 conditioners around the float32 bijection
        (`tfp_invconv.precision`), if this machine has native bfloat16.
    """
    super().__init__(**kwargs)
    self.validate_args = validate_args
    self._seed = seed
    self.dequantizer = dequantizer
    self.noise = noise or ('variational' if dequantizer else 'uniform')
    if self.noise not in pixels_lib.NOISES:
      raise ValueError(f'noise must be one of {pixels_lib.NOISES}, got '
                       f'{self.noise!r}.')
    self.flow = flow
    self.base_df = base_df
    precision.apply(flow, mixed_precision)
    self.distribution = flows.flow_distribution(flow, base_df)
    # Listing the flow's Keras layers makes Keras track every weight once.
    self.flow_layers = base.collect_keras_layers(flow)
    base.check_every_variable_is_held(flow, self.flow_layers)
    self._actnorms = [b for b in base.walk_bijectors(flow)
                      if isinstance(b, actnorm.ActNorm)]
    self._noise = keras.random.SeedGenerator(seed)
    self.codec = pixels_lib.PixelCodec(
        flow.data_shape, num_levels, pixel_shape, dequantizer, self._noise,
        flow.float_dtype, validate_args)
    self.latent_space = latent.LatentSpace(flow, lambda: self.jit_compile,
                                           base_df)
    self.bpd_tracker = keras.metrics.Mean(name='bpd')
    self.skipped_tracker = keras.metrics.Sum(name='skipped_steps')
    # Keras casts the inputs of a call to the compute dtype unless told
    # not to (no public switch); integer pixels must stay integers.
    self._convert_input_args = False
    self.built = True

  def get_config(self):
    return dict(
        super().get_config(), flow=flows.flow_config(self.flow),
        num_levels=self.num_levels, seed=self._seed, noise=self.noise,
        validate_args=self.validate_args, pixel_shape=list(self.pixel_shape),
        base_df=self.base_df, mixed_precision=self.mixed_precision,
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
  def random_states(self):
    """The state variables of the model's random streams (the dequantization
    noise's): a checkpoint that holds them resumes the same noise."""
    generators = [self._noise] + ([self.dequantizer._noise]
                                  if self.dequantizer else [])
    return [g.state.value for g in generators]

  num_levels = property(lambda self: self.codec.num_levels)
  image_shape = property(lambda self: self.codec.image_shape)
  pixel_shape = property(lambda self: self.codec.pixel_shape)
  dimensions = property(lambda self: self.codec.dimensions,
                        doc='D of bits/dim: the unpadded data\'s dimension.')
  dtype_float = property(lambda self: self.flow.float_dtype)
  mixed_precision = property(
      lambda self: precision.conditioner_policy(self.flow) == precision.MIXED,
      doc='True while the conditioners compute in bfloat16.')

  # Pixels, likelihood, latents ----------------------------------------------

  def dequantize(self, pixels, noise='uniform'):
    """k -> (k + u) / L - 0.5 (`PixelCodec.dequantize`)."""
    return self.codec.dequantize(pixels, noise)[0]

  def to_pixels(self, x):
    """(integer pixels, finite per image): `PixelCodec.to_pixels`."""
    return self.codec.to_pixels(x)

  def log_prob(self, x):
    """log p(x) of images in [-0.5, 0.5] (any finite x if num_levels=None)."""
    return self.distribution.log_prob(self.codec.checked_continuous(x))

  def bits_per_dim(self, pixels, noise=None):
    """Bits/dim of integer images, dequantized with `noise` (default: the
    model's). With random noise, a one-sample estimate of the bound
    E_q[log p(x) - log q(u|k)] (in bits/dim, an upper bound), so two copies
    of an image score differently; noise='center' puts every pixel at its
    bin centre instead: deterministic, the SavedModel's choice, the one for
    comparing images."""
    x, log_q = self.codec.dequantize(pixels, noise or self.noise)
    return self.codec.bits_per_dim(self.distribution.log_prob(x) - log_q)

  def encode(self, x):
    """Continuous images -> flat latents (traced: `latent.LatentSpace`)."""
    return self.latent_space.encode(self.codec.checked_continuous(x))

  def decode(self, z):
    """Flat latents -> continuous images (traced, like `encode`)."""
    return self.latent_space.decode(z)

  def sample(self, n, temperature=1.0, seed=None):
    """n continuous images from the model at the given temperature."""
    return self.latent_space.sample(n, temperature, seed)

  # Data-dependent initialisation ----------------------------------------------

  @property
  def initialized(self):
    return all(a.initialized for a in self._actnorms)

  def initialize(self, pixels):
    """Initialises every ActNorm from one batch of integer images, in a
    graph (under a strategy, with statistics averaged over the replicas)."""
    x = self.dequantize(pixels_lib.images_of(pixels))
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
      if replicas.is_multi_worker(self.distribute_strategy):
        x = pixels_lib.int32_images(x)
        if isinstance(kwargs.get('validation_data'), tf.data.Dataset):
          kwargs['validation_data'] = pixels_lib.int32_images(
              kwargs['validation_data'])
    if not self.initialized:
      first = (next(iter(x)) if is_dataset
               else pixels_lib.images_of(x)[:kwargs.get('batch_size') or 32])
      self.initialize(first)
    return super().fit(x, *args, **kwargs)

  # Keras training hooks ----------------------------------------------------------

  def call(self, pixels, training=False):
    return self.bits_per_dim(pixels)

  def train_step(self, data):
    pixels = pixels_lib.images_of(data)
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(self.bits_per_dim(pixels, self.noise))
      # Replica gradients are summed: scale each by its share.
      replica_loss = loss / num_replicas
    weights = self.trainable_weights
    grads = tape.gradient(replica_loss, weights)
    if not self.optimizer.built:  # its variables cannot be made in a branch
      self.optimizer.build(weights)
    finite = replicas.finite_on_every_replica([loss] + grads)
    tf.distribute.get_replica_context().merge_call(
        replicas.apply_if, args=(self.optimizer, finite, grads, weights))
    # A skipped step's loss stays out of the running mean; the count says
    # how many there were.
    loss = replicas.mean_over_replicas(loss)
    self.bpd_tracker.update_state(tf.where(finite, loss, 0.),
                                  sample_weight=tf.cast(finite, loss.dtype))
    self.skipped_tracker.update_state(1. - tf.cast(finite, tf.float32))
    return self._logs(self.bpd_tracker, self.skipped_tracker)

  def test_step(self, data):
    # Weighted by its images, so that a short last batch counts as much as
    # its images do: the held-out figure is the mean over images.
    bpd = self.bits_per_dim(pixels_lib.images_of(data), self.noise)
    sums = replicas.sum_over_replicas(
        tf.stack([tf.reduce_sum(bpd), tf.cast(tf.size(bpd), bpd.dtype)]))
    total, count = sums[0], sums[1]
    self.bpd_tracker.update_state(total / count, sample_weight=count)
    return self._logs(self.bpd_tracker)

  @staticmethod
  def _logs(*metrics):
    multi_worker = replicas.is_multi_worker(tf.distribute.get_strategy())
    # Keras reduces multi-worker logs with a mean over axis 0.
    return {m.name: tf.reshape(m.result(), [1]) if multi_worker else m.result()
            for m in metrics}

