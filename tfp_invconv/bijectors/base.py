"""Shared plumbing of the package's bijectors.

Every bijector here computes its transform and its log-det in one pass
(`_forward_and_log_det` / `_inverse_and_log_det`) and hands both to TFP's
greedy bijector cache, as `tfb.FFJORD` does, so `log_prob` evaluates each
conditioner network once. Parameters live on Keras layers (Keras 3 does not
track raw `tf.Variable`s) while the bijector keeps the underlying variables as
an attribute, so `tf.Module.trainable_variables` and the Keras model that
wraps a flow both see every parameter exactly once.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.internal import cache_util

tfb = tfp.bijectors


def parameter_layer(name, dtype):
  """An empty Keras layer that holds a bijector's weights (`add_weight`).

  Marked built: it has no `build` step, and Keras would otherwise trace the
  whole model symbolically (with float pixels) to build it.
  """
  layer = keras.layers.Layer(name=name, dtype=dtype)
  layer.built = True
  return layer


def random_normal(shape, stddev, dtype):
  """Normal draws from Keras' global seed (`keras.utils.set_random_seed`)."""
  return keras.random.normal(shape, stddev=stddev, dtype=dtype)


# Bound on the log of every learned diagonal scale of the linear layers
# (ActNorm, the LU and triangular centres, the DCT spectra): a hard clip that
# trained layers stay far inside (their largest |log s| is below 2), so that
# no weight value can make a scale overflow or vanish.
MAX_LOG_SCALE = 10.


def bounded_log_scale(log_scale):
  """log_scale clipped to [-MAX_LOG_SCALE, MAX_LOG_SCALE]."""
  return tf.clip_by_value(log_scale, -MAX_LOG_SCALE, MAX_LOG_SCALE)


def soft_clip(raw, bound):
  """bound * tanh(raw / bound): the identity near 0, within (-bound, bound)."""
  return bound * tf.tanh(raw / bound)


def check_positive_int(**values):
  """Raises a ValueError naming the first value that is not a positive
  integer."""
  for name, value in values.items():
    if isinstance(value, bool) or int(value) != value or value < 1:
      raise ValueError(f'{name} must be a positive integer, got {value!r}.')


def assign_weight(layer, name, shape, value=None, initializer='zeros',
                  trainable=True):
  """`layer.add_weight` with an optional explicit initial value."""
  weight = layer.add_weight(shape=shape, initializer=initializer, name=name,
                            trainable=trainable)
  if value is not None:
    weight.assign(tf.cast(value, weight.dtype))
  return weight


class UnbatchedParameters:
  """Mixin of the package's bijectors: their parameters are weights, or
  tensors from a conditioner that vary per example, never a batch of
  bijectors, so `experimental_batch_shape()` is [] (TFP reads it from
  `_parameter_properties`)."""

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict()


class OnePassBijector(UnbatchedParameters, tfb.Bijector):
  """A bijector whose value and log-det come from one evaluation.

  Subclasses implement `_forward_and_log_det(x)` and
  `_inverse_and_log_det(y)`, each returning `(value, log_det)` with the
  log-det at `forward_min_event_ndims`; TFP's greedy cache keeps the log-det
  computed beside the value, so `forward` then `forward_log_det_jacobian`
  (as `tfb.Chain` and `TransformedDistribution` call them) costs one pass.
  """

  _cache = cache_util.BijectorCacheWithGreedyAttrs(
      forward_name='_augmented_forward', inverse_name='_augmented_inverse')

  def _augmented_forward(self, x, **kwargs):
    y, fldj = self._forward_and_log_det(x, **kwargs)
    return y, {'fldj': fldj, 'ildj': -fldj}

  def _augmented_inverse(self, y, **kwargs):
    x, ildj = self._inverse_and_log_det(y, **kwargs)
    return x, {'ildj': ildj, 'fldj': -ildj}

  def _forward(self, x, **kwargs):
    return self._augmented_forward(x, **kwargs)[0]

  def _inverse(self, y, **kwargs):
    return self._augmented_inverse(y, **kwargs)[0]

  def _forward_log_det_jacobian(self, x, **kwargs):
    cached = self._cache.forward_attributes(x, **kwargs)
    if 'fldj' not in cached:
      cached.update(self._augmented_forward(x, **kwargs)[1])
    return cached['fldj']

  def _inverse_log_det_jacobian(self, y, **kwargs):
    cached = self._cache.inverse_attributes(y, **kwargs)
    if 'ildj' not in cached:
      cached.update(self._augmented_inverse(y, **kwargs)[1])
    return cached['ildj']

  def _forward_and_log_det(self, x):
    raise NotImplementedError

  def _inverse_and_log_det(self, y):
    raise NotImplementedError


class FlowBijectorBase(OnePassBijector):
  """Base class of the flow layers: one pass, Keras-held weights.

  Subclasses implement `_forward_and_log_det(x)` and
  `_inverse_and_log_det(y)` on tensors whose batch has been flattened to a
  single leading axis; both return `(output, log_det)` with `log_det` of
  shape `[batch]`. Arbitrary batch shapes, input checks and the cache are
  handled here.
  """

  def __init__(self, *, event_shape_in, layers=(), forward_min_event_ndims=3,
               inverse_min_event_ndims=None, is_constant_jacobian=False,
               dtype=tf.float32, validate_args=False, parameters=None,
               name=None):
    self._event_shape_in = tf.TensorShape(event_shape_in)
    self._keras_layers = list(layers)
    # The raw variables, tracked by tf.Module (and hence by tf.train.Checkpoint
    # and SavedModel) without a second copy of any parameter.
    self._tf_variables = [w.value for layer in self._keras_layers
                          for w in layer.weights]
    super().__init__(
        forward_min_event_ndims=forward_min_event_ndims,
        inverse_min_event_ndims=(forward_min_event_ndims
                                 if inverse_min_event_ndims is None
                                 else inverse_min_event_ndims),
        is_constant_jacobian=is_constant_jacobian, dtype=dtype,
        validate_args=validate_args, parameters=parameters, name=name)

  @property
  def keras_layers(self):
    """The Keras layers that own this bijector's weights."""
    return list(self._keras_layers)

  @property
  def event_shape_in(self):
    return self._event_shape_in

  @property
  def event_shape_out(self):
    """Event shape of the output (that of the input unless overridden)."""
    return self._event_shape_in

  def _checked(self, value, expected_event_shape, what):
    value = tf.convert_to_tensor(value, dtype=self.dtype)
    rank = expected_event_shape.rank
    shape = value.shape
    if shape.rank is not None and (
        shape.rank < rank
        or not shape[shape.rank - rank:].is_compatible_with(
            expected_event_shape)):
      raise ValueError(
          f'{self.name}: expected {what} of shape [..., '
          f'{", ".join(str(d) for d in expected_event_shape.as_list())}], '
          f'got {shape}.')
    if self.validate_args:
      value = tf.debugging.assert_all_finite(
          value, f'{self.name}: {what} contains NaN or Inf.')
    return value

  def _checked_output(self, value, direction):
    """With validate_args, a NaN or Inf that this layer produced (e.g. an
    exponential overflowing in the sampling direction) raises here, naming
    the layer, instead of travelling on."""
    if not self.validate_args:
      return value
    return tf.debugging.assert_all_finite(
        value, f'{self.name}: {direction} produced NaN or Inf (from finite '
        'input)')

  def _run_flat(self, fn, value, event_rank_in, context=None):
    """Runs `fn` on `value` with its batch dims flattened into one axis; a
    `context` (a vector [..., K] per example) is broadcast against the batch
    and flattened alike."""
    batch_rank = tf.rank(value) - event_rank_in
    batch_shape = tf.shape(value)[:batch_rank]
    flat = tf.reshape(value, tf.concat(
        [[-1], tf.shape(value)[batch_rank:]], axis=0))
    flat.set_shape([None] + value.shape[value.shape.rank - event_rank_in:])
    if context is None:
      out, log_det = fn(flat)
    else:
      context = tf.convert_to_tensor(context, self.dtype)
      features = context.shape[-1]
      context = tf.broadcast_to(context, tf.concat(
          [batch_shape, tf.shape(context)[-1:]], axis=0))
      out, log_det = fn(flat, context=tf.reshape(context, [-1, features]))
    out_flat_shape = out.shape
    out = tf.reshape(out, tf.concat([batch_shape, tf.shape(out)[1:]], 0))
    out.set_shape(value.shape[:value.shape.rank - event_rank_in]
                  + out_flat_shape[1:])
    return out, tf.reshape(log_det, batch_shape)

  def _sync_variables(self):
    """Tracks the weights of layers built after construction (a Keras
    conditioner built by its first call)."""
    current = [w.value for layer in self._keras_layers for w in layer.weights]
    if len(current) != len(self._tf_variables):
      self._tf_variables = current

  # Keyword arguments (a conditional layer's `context`) reach
  # `_forward_and_log_det` / `_inverse_and_log_det`, and key the cache.

  def _augmented_forward(self, x, **kwargs):
    x = self._checked(x, self._event_shape_in, 'input')
    y, fldj = self._run_flat(self._forward_and_log_det, x,
                             self._event_shape_in.rank, **kwargs)
    y = self._checked_output(y, 'forward')
    self._sync_variables()
    return y, {'fldj': fldj, 'ildj': -fldj}

  def _augmented_inverse(self, y, **kwargs):
    y = self._checked(y, self.event_shape_out, 'output')
    x, ildj = self._run_flat(self._inverse_and_log_det, y,
                             self.event_shape_out.rank, **kwargs)
    x = self._checked_output(x, 'inverse')
    self._sync_variables()
    return x, {'ildj': ildj, 'fldj': -ildj}


class ShapeChangeMixin:
  """Event-shape hooks for a bijector with static, different in/out shapes."""

  def _forward_event_shape(self, input_shape):
    rank_in = self._event_shape_in.rank
    return input_shape[:input_shape.rank - rank_in].concatenate(
        self.event_shape_out)

  def _inverse_event_shape(self, output_shape):
    rank_out = self.event_shape_out.rank
    return output_shape[:output_shape.rank - rank_out].concatenate(
        self._event_shape_in)

  def _forward_event_shape_tensor(self, input_shape):
    batch = input_shape[:tf.size(input_shape) - self._event_shape_in.rank]
    return tf.concat([batch, self.event_shape_out.as_list()], axis=0)

  def _inverse_event_shape_tensor(self, output_shape):
    batch = output_shape[:tf.size(output_shape) - self.event_shape_out.rank]
    return tf.concat([batch, self._event_shape_in.as_list()], axis=0)


def pixels(x, event_rank=3):
  """H·W as a tensor of x's dtype (the multiplicity of per-pixel log-dets);
  1 for vectors (event_rank 1)."""
  if event_rank == 1:
    return tf.ones([], x.dtype)
  shape = tf.shape(x)
  return tf.cast(shape[-3] * shape[-2], x.dtype)


def sum_per_example(t):
  """Sums every axis but the first."""
  return tf.reduce_sum(tf.reshape(t, [tf.shape(t)[0], -1]), axis=1)


def constant_log_det(x, per_pixel_log_det, event_rank=3):
  """`H·W·per_pixel_log_det` (vectors: `per_pixel_log_det`) broadcast to
  x's batch."""
  value = pixels(x, event_rank) * tf.cast(per_pixel_log_det, x.dtype)
  return tf.fill([tf.shape(x)[0]], value)


# Where TFP's wrappers keep the bijectors they wrap: Invert (and the plain
# _Invert that tfb.Invert returns over non-composite bijectors) and
# TransformDiagonal one, Chain, JointMap, Blockwise and FactorOut several.
_CHILD_ATTRIBUTES = ('bijector', 'diag_bijector', 'bijectors',
                     'inner_bijectors')


def walk_bijectors(bijector):
  """Every bijector under a composite one, depth first, the composite
  itself included."""
  yield bijector
  for attribute in _CHILD_ATTRIBUTES:
    children = getattr(bijector, attribute, None)
    for child in tf.nest.flatten(children) if children is not None else ():
      if isinstance(child, tfb.Bijector):
        yield from walk_bijectors(child)


def collect_keras_layers(bijector):
  """Every Keras layer under a (possibly composite) bijector, each once."""
  layers = {}
  for b in walk_bijectors(bijector):
    if isinstance(b, FlowBijectorBase):
      layers.update((id(layer), layer) for layer in b.keras_layers)
  return list(layers.values())


def check_every_variable_is_held(flow, layers):
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
