"""Where the PAC benchmark's models start: held-out bits/dim and gradient
norm right after ActNorm's initialisation, beside their held-out bits/dim
after the first evaluation interval of the saved runs.

Each variant of `benchmarks.pac` is built as its MNIST runs were (their
saved settings and mixture components), initialised on the first batch of
the training images, and scored on the first `--images` test images; the
gradient is that of one training batch. Do PAC and its baselines start
alike, and is the gap of the trained runs there from the start?

  python -m benchmarks.pac_init --data ../shared/data/mnist.npz \\
      --runs benchmarks/results/pac_runs
"""

import json
import os

import numpy as np

from benchmarks import common
from benchmarks import pac
from training import provenance


def saved_runs(folder, model):
  """The saved MNIST runs of `model` in a pac --runs folder."""
  runs = []
  for seed in range(pac.DATASETS['mnist']['seeds']):
    path = os.path.join(folder, f'mnist_{model}_seed{seed}.json')
    if os.path.exists(path):
      with open(path) as f:
        runs.append(json.load(f))
  if not runs:
    raise FileNotFoundError(f'no saved MNIST run of {model} in {folder}')
  return runs


def start(model, runs, train, test, batch):
  """(held-out bits/dim, gradient norm) of `model` after initialisation."""
  import argparse
  import keras
  import tensorflow as tf
  from tfp_invconv.model import FlowModel
  keras.utils.set_random_seed(0)
  settings = argparse.Namespace(**runs[0]['settings'])
  flow = pac.make_flow(train.shape[1:], model, runs[0]['levels'], settings,
                       runs[0]['components'])
  net = FlowModel(flow, num_levels=256, seed=0, pixel_shape=train.shape[1:])
  net.initialize(train[:batch])
  held_out = float(np.mean(net.bits_per_dim(test)))
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(net.bits_per_dim(train[batch:2 * batch]))
  grads = tape.gradient(loss, net.trainable_weights)
  return held_out, float(tf.linalg.global_norm(grads))


def main(argv=None):
  parser = common.make_parser('pac_init', __doc__.split('\n')[0], batch=64,
                              out='benchmarks/results/pac_init.md')
  parser.add_argument('--data', required=True, help='mnist.npz')
  parser.add_argument('--runs', default='benchmarks/results/pac_runs')
  parser.add_argument('--images', type=int, default=1000)
  args, command = common.parse(parser, argv)
  with np.load(args.data) as arrays:
    train = arrays['x_train'][..., None]
    test = arrays['x_test'][:args.images, ..., None]
  rows = []
  for model in pac.MODELS:
    runs = saved_runs(args.runs, model)
    held_out, norm = start(model, runs, train, test, args.batch)
    first = [run['curve_bpd'][0] for run in runs]
    rows.append([model, runs[0]['components'], f'{held_out:.2f}',
                 f'{norm:.1f}', runs[0]['curve_steps'][0],
                 f'{np.mean(first):.2f} ({len(first)} seeds)'])
    print(' | '.join(map(str, rows[-1])), flush=True)
  common.write_markdown(
      args.out, 'PAC flows at initialisation', command,
      provenance.machine(args.threads),
      ['model', 'components', 'held-out bits/dim after ActNorm init',
       'gradient norm (one batch)', 'first evaluation step',
       'held-out bits/dim there (saved runs, mean)'], rows,
      notes=[f'MNIST; initialised on the first {args.batch} training '
             f'images (seed 0), held-out: the first {args.images} test '
             'images; the gradient of the mean bits/dim of the next '
             f'{args.batch}.'])
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
