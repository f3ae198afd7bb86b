"""Fits the symmetric-convolution vector flow to two moons; plots the density.

  python examples/two_moons.py --epochs 150 --out two_moons.png
"""

import argparse
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import make_moons  # noqa: E402

import tfp_invconv as ti  # noqa: E402
from tfp_invconv.model import FlowModel  # noqa: E402


def train(epochs, samples=2000, seed=0):
  keras.utils.set_random_seed(seed)
  data, _ = make_moons(samples, noise=0.05, random_state=seed)
  data = ((data - data.mean(0)) / data.std(0)).astype(np.float32)
  flow = ti.SymmetricConvVectorFlow(2, depth=6, hidden_width=64)
  model = FlowModel(flow, num_levels=None)
  model.compile(optimizer=keras.optimizers.Adam(3e-3))
  dataset = tf.data.Dataset.from_tensor_slices(data).shuffle(samples).batch(
      256)
  history = model.fit(dataset, epochs=epochs, verbose=0)
  return model, data, history.history['bpd']


def plot(model, data, losses, path):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  grid = np.linspace(-2.5, 2.5, 200, dtype=np.float32)
  xx, yy = np.meshgrid(grid, grid)
  points = np.stack([xx.ravel(), yy.ravel()], axis=1)
  # Far from the data the S-Log inverse overflows: density 0 there.
  density = np.nan_to_num(np.exp(model.log_prob(points).numpy()))
  density = density.reshape(xx.shape)
  samples = model.sample(1000, seed=0).numpy()
  fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
  axes[0].scatter(data[:, 0], data[:, 1], s=2)
  axes[0].set_title('data')
  axes[1].imshow(density, extent=(-2.5, 2.5, -2.5, 2.5), origin='lower',
                 cmap='viridis')
  axes[1].set_title('model density')
  axes[2].scatter(samples[:, 0], samples[:, 1], s=2, color='tab:orange')
  axes[2].set_title('model samples')
  for ax in axes:
    ax.set_xlim(-2.5, 2.5)
    ax.set_ylim(-2.5, 2.5)
    ax.set_aspect('equal')
  fig.suptitle(f'SymmetricConvVectorFlow, final NLL '
               f'{losses[-1] * 2 * np.log(2):.3f} nats/example')
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--epochs', type=int, default=150)
  parser.add_argument('--out', default='two_moons.png')
  args = parser.parse_args(argv)
  model, data, losses = train(args.epochs)
  plot(model, data, losses, args.out)
  print(f'NLL {losses[0] * 2 * np.log(2):.3f} -> {losses[-1] * 2 * np.log(2):.3f}'
        f' nats/example; density plot: {args.out}')


if __name__ == '__main__':
  main()
