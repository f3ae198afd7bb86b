"""tf.distribute strategies for the training CLI."""

import hashlib
import os
import socket
import sys
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


def free_loopback_ports(count):
  """`count` TCP ports free on 127.0.0.1 now, for local workers."""
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


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


# Restarts of one worker process after losing a peer, counted across its
# re-executions.
_RESTARTS = 'TFP_INVCONV_WORKER_RESTARTS'
MAX_RESTARTS = 3


def restart_after_lost_peer(checkpoint):
  """Re-executes this worker's command after another worker died.

  TensorFlow's collectives cannot recover in-process once a peer is lost,
  so the surviving worker starts afresh: it waits for the cluster to be
  whole again (the lost worker restarted with the same command) and then
  every worker resumes from the chief's last checkpoint. Gives up after
  `MAX_RESTARTS` restarts.
  """
  restarts = int(os.environ.get(_RESTARTS, '0'))
  if restarts >= MAX_RESTARTS:
    sys.exit(f'a peer worker stopped responding {restarts + 1} times; '
             'giving up (rerun every worker with the same command to '
             'resume)')
  print(f'a peer worker stopped responding; restarting this worker, which '
        f'resumes from {checkpoint or "the start"} once every worker is '
        'back (restart the lost one with the same command)',
        file=sys.stderr, flush=True)
  os.environ[_RESTARTS] = str(restarts + 1)
  sys.stdout.flush()
  os.execv(sys.executable, [sys.executable, '-m', 'training'] + sys.argv[1:])
