"""Shared checks of the bijector contract (tests/test_bijector_contract.py)."""

import numpy as np
import tensorflow as tf

import tfp_invconv as ti


def fresh(value, dtype=None):
  """A new tensor with the same values: defeats TFP's identity-keyed cache."""
  return tf.constant(np.array(value), dtype=dtype)


def perturb_weights(bijector, stddev=0.1, seed=0):
  """Adds noise to every trainable weight (identity inits hide bugs)."""
  rng = np.random.default_rng(seed)
  for v in bijector.trainable_variables:
    v.assign(v + rng.normal(0., stddev, v.shape).astype(v.dtype.as_numpy_dtype))


def round_trip_errors(bijector, x, y):
  """max |inverse(forward(x)) - x| and max |forward(inverse(y)) - y|."""
  x_back = bijector.inverse(fresh(bijector.forward(fresh(x))))
  y_back = bijector.forward(fresh(bijector.inverse(fresh(y))))
  return _max_error(x_back, x), _max_error(y_back, y)


def _max_error(actual, expected):
  """max |actual - expected|, infinite when anything is NaN or Inf."""
  error = np.abs(np.array(actual) - np.array(expected))
  return float(np.max(np.where(np.isfinite(error), error, np.inf)))


def dense_log_det(fn, x, per_example_state=False):
  """log|det J| of fn at each example of x, from the dense Jacobian.

  When fn maps each example on its own, one backward pass gives every row:
  example n is copied once per output d, and the gradient of the sum over
  copies of output d of copy (n, d) is row d of J at example n (much
  faster than `batch_jacobian`'s vectorised loop over outputs). A fn that
  holds state per example of x (`per_example_state`, e.g. a PAC layer's
  kernel maps) takes `batch_jacobian`.
  """
  if per_example_state:
    return _batch_jacobian_log_det(fn, x)
  x = np.asarray(x)
  batch, size = x.shape[0], int(np.prod(x.shape[1:]))
  copies = fresh(np.repeat(x, size, axis=0))
  with tf.GradientTape() as tape:
    tape.watch(copies)
    y = tf.reshape(fn(copies), [batch, size, -1])
    assert y.shape[-1] == size, 'fn must keep the dimension'
    selected = tf.reduce_sum(y * tf.eye(size, dtype=y.dtype))
  jacobian = tf.reshape(tape.gradient(selected, copies), [batch, size, size])
  return tf.linalg.slogdet(jacobian)[1].numpy()


def _batch_jacobian_log_det(fn, x):
  x = fresh(x)
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = fn(x)
    y_flat = tf.reshape(y, [tf.shape(y)[0], -1])
  size = int(np.prod(x.shape[1:]))
  jacobian = tf.reshape(tape.batch_jacobian(y_flat, x), [-1, size, size])
  return tf.linalg.slogdet(jacobian)[1].numpy()


def tiny_flow(conv, coupling, dtype=tf.float64, **kwargs):
  """A perturbed two-level CInCFlow over 8 x 8 x 3 images."""
  flow = ti.CInCFlow((8, 8, 3), levels=2, depth=2, hidden_width=8, conv=conv,
                     coupling=coupling, dtype=dtype, **kwargs)
  perturb_weights(flow, stddev=0.05)
  return flow
