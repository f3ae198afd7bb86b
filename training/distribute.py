"""tf.distribute strategies for the training CLI."""

import os

import tensorflow as tf

STRATEGIES = ('default', 'mirrored', 'multiworker')


def split_cpu(count):
  """Splits the CPU into `count` logical devices (before TF initialises), so
  MirroredStrategy can run replicas on a machine without accelerators."""
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def make_strategy(name, cpu_replicas=None):
  """'default' (one device), 'mirrored' (all local GPUs, or `cpu_replicas`
  logical CPUs) or 'multiworker' (the cluster in TF_CONFIG)."""
  if name not in STRATEGIES:
    raise ValueError(f'strategy must be one of {STRATEGIES}, got {name!r}.')
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'multiworker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  if cpu_replicas and not tf.config.list_physical_devices('GPU'):
    split_cpu(cpu_replicas)
    devices = [f'/cpu:{i}' for i in range(cpu_replicas)]
    return tf.distribute.MirroredStrategy(devices)
  return tf.distribute.MirroredStrategy()


def worker_output_dir(strategy, out):
  """`out` for the chief; a worker-specific subfolder for the other workers,
  so that only the chief writes the run's files."""
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.task_type:
    return out
  is_chief = (resolver.task_type == 'chief'
              or (resolver.task_type == 'worker' and resolver.task_id == 0
                  and 'chief' not in resolver.cluster_spec().as_dict()))
  return out if is_chief else os.path.join(out, f'worker{resolver.task_id}')
