"""Cross-replica pieces of a train step under a `tf.distribute` strategy:
every replica takes or skips a step together, and reports global means."""

import tensorflow as tf


def mean_over_replicas(value):
  """The mean of a per-replica scalar over all replicas: every replica's
  metrics then hold the global running mean, whichever replica Keras
  reports (it reports one replica's logs per batch)."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return value
  return context.all_reduce('MEAN', value)


def sum_over_replicas(value):
  """The sum of a per-replica value over all replicas."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return value
  return context.all_reduce('SUM', value)


def finite_on_every_replica(tensors):
  """True where every tensor is finite on every replica, so that all of
  them take the same branch."""
  bad = tf.add_n([tf.reduce_sum(tf.cast(~tf.math.is_finite(t), tf.float32))
                  for t in tensors if t is not None])
  bad = tf.distribute.get_replica_context().all_reduce('sum', bad)
  return tf.equal(bad, 0.)


def apply_if(strategy, optimizer, finite, grads, weights):
  """Applies the gradients unless a loss or gradient was NaN or Inf: one
  overflowing batch (an outlier image whose latent overflows float32) then
  skips its step instead of writing NaN into every weight. The condition
  runs in the cross-replica context, where a branch may all-reduce."""
  def apply():
    strategy.extended.call_for_each_replica(optimizer.apply,
                                            args=(grads, weights))

  tf.cond(strategy.experimental_local_results(finite)[0], apply, lambda: None)


def is_multi_worker(strategy):
  return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
