"""tf.distribute strategies for the training CLI."""

import hashlib
import os
import tempfile

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
  """`out` for the chief; for every other worker a scratch folder of its
  own outside `out` (its checkpoints and files are written only because
  every worker must take part in saving), so that only the chief writes
  into `out`."""
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.task_type:
    return out
  is_chief = (resolver.task_type == 'chief'
              or (resolver.task_type == 'worker' and resolver.task_id == 0
                  and 'chief' not in resolver.cluster_spec().as_dict()))
  if is_chief:
    return out
  run = hashlib.sha1(os.path.abspath(out).encode()).hexdigest()[:12]
  return os.path.join(tempfile.gettempdir(), f'tfp_invconv_{run}',
                      f'{resolver.task_type}{resolver.task_id}')
