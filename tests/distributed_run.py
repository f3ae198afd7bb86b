"""Trains a tiny flow for a few steps under a strategy; prints JSON results.

  python tests/distributed_run.py {default,mirrored,multiworker}

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
  main(sys.argv[1])
