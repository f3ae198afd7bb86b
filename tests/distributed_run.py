"""Trains a tiny flow for a few steps under a strategy; prints JSON results.

  python tests/distributed_run.py {default,mirrored,multiworker} [init]

With `init`, every worker initialises the ActNorms from a batch of its own
(the single device from all of them) and prints the statistics it got.

Used by tests/test_distributed.py in fresh processes (logical CPU devices and
TF_CONFIG must be set before TensorFlow initialises).
"""

import json
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import tfp_invconv as ti  # noqa: E402
from tfp_invconv.model import FlowModel  # noqa: E402
from training import distribute  # noqa: E402


def _worker_index():
  return json.loads(os.environ.get('TF_CONFIG', '{}')).get(
      'task', {}).get('index', 0)


def init(name, workers=2):
  strategy = distribute.make_strategy(name, cpu_replicas=2)
  digits = load_digits().images.astype(np.uint8)[..., None]
  batch = (digits[:64 * workers] if name == 'default' else
           digits[64 * _worker_index():64 * (_worker_index() + 1)])
  with strategy.scope():
    keras.utils.set_random_seed(0)
    flow = ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8)
    model = FlowModel(flow, num_levels=17, noise='center')
  model.initialize(batch)
  print(json.dumps({a.name: [v.numpy().tolist() for v in a.trainable_variables]
                    for a in model._actnorms}))


def main(name):
  strategy = distribute.make_strategy(name, cpu_replicas=2)
  pixels = load_digits().images[:64].astype(np.uint8)[..., None]
  data = tf.data.Dataset.from_tensor_slices(pixels).batch(64).repeat()
  with strategy.scope():
    keras.utils.set_random_seed(0)
    flow = ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8)
    model = FlowModel(flow, num_levels=17, noise='center')
    model.compile(optimizer=keras.optimizers.SGD(0.05))
  history = model.fit(data, epochs=3, steps_per_epoch=1, verbose=0)
  print(json.dumps({
      'replicas': strategy.num_replicas_in_sync,
      'bpd': history.history['bpd'],
      'weights_sum': float(sum(np.sum(np.abs(w.numpy()))
                               for w in model.trainable_weights)),
  }))


if __name__ == '__main__':
  (init if sys.argv[2:] == ['init'] else main)(sys.argv[1])
