"""tf.distribute: replicas and workers train exactly like one device.

Each run is a fresh process (logical CPU devices and TF_CONFIG must be set
before TensorFlow initialises) that trains a tiny flow for three steps on one
fixed batch with bin-centre dequantization and prints its losses.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      'distributed_run.py')


def _start(strategy, tf_config=None, mode=None):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  if tf_config:
    env['TF_CONFIG'] = json.dumps(tf_config)
  return subprocess.Popen([sys.executable, SCRIPT, strategy] + ([mode] if mode else []), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def _result(process):
  out, err = process.communicate(timeout=600)
  assert process.returncode == 0, err[-3000:]
  return json.loads(out.strip().splitlines()[-1])


def _free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


@pytest.fixture(scope='module')
def single_device():
  result = _result(_start('default'))
  assert result['replicas'] == 1
  return result


@pytest.mark.slow
def test_mirrored_two_cpu_replicas_match_one_device(single_device):
  mirrored = _result(_start('mirrored'))
  assert mirrored['replicas'] == 2
  np.testing.assert_allclose(mirrored['bpd'], single_device['bpd'], rtol=1e-5)
  np.testing.assert_allclose(mirrored['weights_sum'],
                             single_device['weights_sum'], rtol=1e-5)
  assert single_device['bpd'][-1] < single_device['bpd'][0]


@pytest.mark.slow
def test_two_local_workers_agree_with_each_other_and_one_device(single_device):
  workers = [f'127.0.0.1:{port}' for port in _free_ports(2)]
  processes = [
      _start('multiworker', {'cluster': {'worker': workers},
                             'task': {'type': 'worker', 'index': i}})
      for i in range(2)]
  first, second = [_result(p) for p in processes]
  assert first['replicas'] == second['replicas'] == 2
  assert first == second
  np.testing.assert_allclose(first['bpd'], single_device['bpd'], rtol=1e-5)


@pytest.mark.slow
def test_workers_with_different_batches_initialise_actnorm_alike():
  """Each worker initialises from its own batch; all end with the statistics
  of the pooled batches, as one device initialised from all of them."""
  workers = [f'127.0.0.1:{port}' for port in _free_ports(2)]
  processes = [
      _start('multiworker', {'cluster': {'worker': workers},
                             'task': {'type': 'worker', 'index': i}}, mode='init')
      for i in range(2)]
  first, second = [_result(p) for p in processes]
  assert first == second
  pooled = _result(_start('default', mode='init'))
  assert first.keys() == pooled.keys()
  for name in pooled:
    # Dequantization noise differs between the runs, not the statistics.
    np.testing.assert_allclose(first[name], pooled[name], atol=0.02)
