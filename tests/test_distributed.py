"""tf.distribute: replicas and workers train exactly like one device.

Each run is a fresh process (logical CPU devices and TF_CONFIG must be set
before TensorFlow initialises) that trains a tiny flow for three steps on one
fixed batch with bin-centre dequantization and prints its losses.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from training import distribute

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
  workers = [f'127.0.0.1:{port}'
             for port in distribute.free_loopback_ports(2)]
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
  workers = [f'127.0.0.1:{port}'
             for port in distribute.free_loopback_ports(2)]
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


# The training CLI under each strategy, as users start it.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = ['-m', 'training', 'train', '--preset', 'demo', '--dataset', 'digits',
       '--depth', '1', '--hidden-width', '8', '--batch-size', '64',
       '--dequantization', 'center', '--threads', '1']


def _cli(out, steps, strategy='default', tf_config=None, extra=(),
         stderr=subprocess.PIPE):
  """Starts one training CLI process."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  env.pop('TF_CONFIG', None)
  if tf_config:
    env['TF_CONFIG'] = json.dumps(tf_config)
  return subprocess.Popen(
      [sys.executable, *CLI, '--steps', str(steps), '--strategy', strategy,
       '--out', out, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
      stderr=stderr, text=True)


def _finished(process):
  out, err = process.communicate(timeout=600)
  assert process.returncode == 0, out[-2000:] + err[-3000:]
  return out


def _workers(out, steps):
  """Two local worker processes of one multiworker run."""
  hosts = [f'127.0.0.1:{port}'
           for port in distribute.free_loopback_ports(2)]
  return [_cli(out, steps, 'multiworker',
               {'cluster': {'worker': hosts},
                'task': {'type': 'worker', 'index': i}}) for i in range(2)]


def _outcome(out):
  """(training bits/dim of the last history row, bits/dim of the saved
  weights on a fixed batch)."""
  import csv
  from sklearn.datasets import load_digits
  from training import artifacts
  with open(os.path.join(out, 'history.csv')) as f:
    rows = list(csv.DictReader(f))
  model, _ = artifacts.load_model(out)
  batch = load_digits().images[:32].astype(np.uint8)[..., None]
  return (float(rows[-1]['bpd']),
          np.asarray(model.bits_per_dim(batch, noise='center')))


@pytest.fixture(scope='module')
def cli_single_device(tmp_path_factory):
  out = str(tmp_path_factory.mktemp('single') / 'run')
  _finished(_cli(out, 6))
  return _outcome(out)


@pytest.mark.slow
def test_cli_mirrored_two_cpu_replicas_match_one_device(
    cli_single_device, tmp_path):
  out = str(tmp_path / 'run')
  _finished(_cli(out, 6, 'mirrored', extra=['--cpu-replicas', '2']))
  bpd, weights_bpd = _outcome(out)
  np.testing.assert_allclose(bpd, cli_single_device[0], rtol=1e-4)
  np.testing.assert_allclose(weights_bpd, cli_single_device[1], rtol=1e-4)


@pytest.mark.slow
def test_cli_mirrored_on_one_device_trains(tmp_path):
  out = str(tmp_path / 'run')
  _finished(_cli(out, 2, 'mirrored'))
  assert os.path.exists(os.path.join(out, 'model.weights.h5'))


@pytest.mark.slow
def test_cli_two_workers_match_one_device_and_resume(
    cli_single_device, tmp_path):
  out = str(tmp_path / 'run')
  chief, worker = [_finished(p) for p in _workers(out, 6)]
  assert 'trained 6 steps' in chief and 'trained 6 steps' in worker
  bpd, weights_bpd = _outcome(out)
  np.testing.assert_allclose(bpd, cli_single_device[0], rtol=1e-4)
  np.testing.assert_allclose(weights_bpd, cli_single_device[1], rtol=1e-4)
  # Only the chief writes into --out.
  assert sorted(os.listdir(out)) == sorted(
      ['bpd.png', 'checkpoints', 'config.json', 'history.csv',
       'invocations.json', 'logs', 'model.weights.h5', 'samples.png'])
  # Both resume from the chief's checkpoint.
  chief, worker = [_finished(p) for p in _workers(out, 9)]
  assert 'resuming from step 6' in chief and 'resuming from step 6' in worker
  assert 'trained 9 steps' in chief and 'trained 9 steps' in worker


@pytest.mark.slow
def test_cli_worker_killed_mid_run_is_restarted_and_the_run_completes(
    tmp_path):
  import csv
  import signal
  import time
  out = str(tmp_path / 'run')
  hosts = [f'127.0.0.1:{port}'
           for port in distribute.free_loopback_ports(2)]
  start = lambda i, **kwargs: _cli(
      out, 150, 'multiworker', {'cluster': {'worker': hosts},
                                'task': {'type': 'worker', 'index': i}},
      extra=['--checkpoint-every', '10'], **kwargs)
  chief_log = tmp_path / 'chief.err'
  with open(chief_log, 'w') as chief_err:
    chief, worker = start(0, stderr=chief_err), start(1)
    history = os.path.join(out, 'history.csv')

    def wait_for(condition, seconds=300):
      deadline = time.time() + seconds
      while not condition():
        assert time.time() < deadline and chief.poll() is None
        time.sleep(0.5)

    wait_for(lambda: os.path.exists(history)
             and len(open(history).readlines()) > 2)
    worker.send_signal(signal.SIGKILL)  # mid-run, mid-epoch
    worker.wait()
    # The chief notices the lost peer and restarts itself; then the lost
    # worker comes back with the same command.
    wait_for(lambda: 'a peer worker stopped responding' in chief_log.read_text())
    restarted = start(1)
    assert 'trained 150 steps' in _finished(restarted)
    chief_out, _ = chief.communicate(timeout=600)
  assert chief.returncode == 0, chief_log.read_text()[-3000:]
  assert 'trained 150 steps' in chief_out
  with open(history) as f:
    rows = list(csv.DictReader(f))
  assert [int(r['epoch']) for r in rows] == list(range(len(rows)))
  assert int(rows[-1]['step']) == 150
  steps = [int(r['step']) for r in rows]
  assert steps == sorted(set(steps))
