"""python -m training {train, evaluate, sample, interpolate, manipulate} ...

  python -m training train --preset demo --dataset digits --steps 300 --out runs/demo
  python -m training evaluate --run runs/demo
  python -m training sample --run runs/demo --temperatures 0.5 0.7 1.0
  python -m training interpolate --run runs/demo --pairs 0 1 2 3
  python -m training manipulate --run runs/celeba --attribute Smiling
"""

import argparse
import math
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def _train(args):
  import keras
  from training import artifacts, callbacks, data, distribute, presets

  strategy = distribute.make_strategy(args.strategy, args.cpu_replicas)
  out = distribute.worker_output_dir(strategy, args.out)
  keras.utils.set_random_seed(args.seed)
  config = presets.get(args.preset, conv=args.conv, centre=args.centre,
                       coupling=args.coupling,
                       levels=args.levels, depth=args.depth,
                       hidden_width=args.hidden_width,
                       batch_size=args.batch_size, lr=args.lr,
                       warmup_steps=args.warmup_steps)
  train_data = data.load(args.dataset, 'train', args.data_dir)
  try:
    test_data = data.load(args.dataset, 'test', args.data_dir)
  except (KeyError, RuntimeError, FileNotFoundError):
    test_data = None
  config.update(dataset=args.dataset, image_shape=list(train_data.image_shape),
                num_levels=train_data.num_levels, seed=args.seed,
                dequantization=args.dequantization)
  artifacts.save_config(out, config)
  with strategy.scope():
    model = artifacts.build_model(config)
    schedule = callbacks.WarmupSchedule(config['lr'], config['warmup_steps'])
    optimizer_cls = {'adamax': keras.optimizers.Adamax,
                     'adam': keras.optimizers.Adam}[args.optimizer]
    model.compile(optimizer=optimizer_cls(
        learning_rate=schedule, clipnorm=args.clip_norm, use_ema=args.ema))

  batch_size = config['batch_size']
  if train_data.size is None:
    sys.exit(f'the number of images in {args.dataset!r} is unknown, so an '
             'epoch has no length; use a dataset whose size is recorded')
  steps_per_epoch = math.ceil(train_data.size / batch_size)
  epochs = args.epochs
  if args.steps:
    epochs = math.ceil(args.steps / steps_per_epoch)
    steps_per_epoch = math.ceil(args.steps / epochs)

  state = callbacks.TrainingState(model, os.path.join(out, 'checkpoints'))
  step = state.restore()
  if step:
    print(f'resuming from step {step} (checkpoint {state.manager.latest_checkpoint})')
  train_batches = data.batches(train_data, batch_size, flip=args.flip,
                               seed=args.seed + step, repeat=True)
  validation = (data.batches(test_data, batch_size, shuffle=False)
                if test_data is not None else None)
  best = min(callbacks.read_history(
      os.path.join(out, 'history.csv')).get('bpd', [math.inf]))
  fit_callbacks = [
      callbacks.StepCheckpoint(state, args.checkpoint_every),
      callbacks.TerminateOnNaN(),
      keras.callbacks.ModelCheckpoint(
          os.path.join(out, artifacts.WEIGHTS), monitor='bpd', mode='min',
          save_best_only=True, save_weights_only=True,
          initial_value_threshold=best),
      keras.callbacks.CSVLogger(os.path.join(out, 'history.csv'),
                                append=True),
      keras.callbacks.TensorBoard(os.path.join(out, 'logs')),
      callbacks.Progress(out, train_data.num_levels),
  ]
  for initial_epoch, last_epoch, steps in callbacks.fit_plan(
      step, steps_per_epoch, epochs):
    model.fit(train_batches, initial_epoch=initial_epoch, epochs=last_epoch,
              steps_per_epoch=steps, validation_data=validation,
              callbacks=fit_callbacks,
              verbose=1 if sys.stdout.isatty() else 2)
    if model.stop_training:
      sys.exit('training stopped: bits/dim became NaN or Inf; the last good '
               f'state is in {state.manager.directory}')
  print(f'trained {state.step} steps')
  print(f'weights: {os.path.join(out, artifacts.WEIGHTS)}\n'
        f'samples: {os.path.join(out, "samples.png")}\n'
        f'curve:   {os.path.join(out, "bpd.png")}')


def _evaluate(args):
  from training import artifacts, data
  model, config = artifacts.load_model(args.run)
  test = data.load(args.dataset or config['dataset'], 'test', args.data_dir)
  bpd = data.mean_bits_per_dim(model, test)
  print(f'test bits/dim: {bpd:.4f} ({test.size} images)')
  return bpd


def _sample(args):
  import numpy as np
  from training import artifacts
  model, config = artifacts.load_model(args.run)
  grids = [model.to_pixels(model.sample(args.num, t, seed=args.seed)).numpy()
           for t in args.temperatures]
  path = args.output or os.path.join(args.run, 'samples_by_temperature.png')
  artifacts.save_grid(path, np.concatenate(grids), config['num_levels'],
                      rows=len(args.temperatures),
                      title='rows: T = ' + ', '.join(map(str,
                                                         args.temperatures)))
  print(f'samples: {path}')


def _interpolate(args):
  import numpy as np
  from tfp_invconv import latent
  from training import artifacts, data
  model, config = artifacts.load_model(args.run)
  test = data.load(args.dataset or config['dataset'], 'test', args.data_dir)
  images = next(iter(test.images.batch(max(args.pairs) + 1))).numpy()
  rows = [latent.interpolate(model, images[a], images[b], args.num).numpy()
          for a, b in zip(args.pairs[::2], args.pairs[1::2])]
  path = args.output or os.path.join(args.run, 'interpolation.png')
  artifacts.save_grid(path, np.concatenate(rows), config['num_levels'],
                      rows=len(rows), title='latent interpolation')
  print(f'interpolation: {path}')


def _manipulate(args):
  import numpy as np
  from tfp_invconv import latent
  from training import artifacts, data
  model, config = artifacts.load_model(args.run)
  name = args.dataset or config['dataset']
  labelled = data.load_labelled(name, args.attribute, 'train', args.data_dir)
  direction = latent.attribute_direction(
      model, labelled.take(args.examples).batch(64))
  images = next(iter(data.load(name, 'test', args.data_dir)
                     .images.batch(args.num))).numpy()
  moved = latent.manipulate(model, images, direction, args.scales).numpy()
  path = args.output or os.path.join(args.run, f'manipulate_{args.attribute}.png')
  artifacts.save_grid(path, moved.reshape((-1,) + moved.shape[2:]),
                      config['num_levels'], rows=len(args.scales),
                      title=f'{args.attribute}: rows = scales '
                            + ', '.join(map(str, args.scales)))
  np.save(os.path.join(args.run, f'direction_{args.attribute}.npy'),
          direction.numpy())
  print(f'manipulation: {path}')


def parser():
  p = argparse.ArgumentParser(prog='python -m training',
                              description='Train and use CInC flows.')
  sub = p.add_subparsers(dest='command', required=True)

  train = sub.add_parser('train', help='train a flow (resumes automatically)')
  train.add_argument('--preset', default='demo')
  train.add_argument('--dataset', default='digits',
                     help="'digits', a tfds name, a .npz file or an image folder")
  train.add_argument('--data-dir', default=None, help='tfds data directory')
  train.add_argument('--out', required=True, help='output folder')
  train.add_argument('--steps', type=int, default=None,
                     help='total training steps (overrides --epochs; spread '
                          'over whole epochs of equal length)')
  train.add_argument('--epochs', type=int, default=10)
  train.add_argument('--batch-size', type=int, default=None)
  train.add_argument('--lr', type=float, default=None)
  train.add_argument('--warmup-steps', type=int, default=None)
  train.add_argument('--optimizer', choices=['adamax', 'adam'],
                     default='adamax')
  train.add_argument('--clip-norm', type=float, default=None)
  train.add_argument('--ema', action='store_true',
                     help='keep a Polyak average of the weights')
  train.add_argument('--dequantization', default='uniform',
                     choices=['uniform', 'variational'],
                     help='variational: a learned q(u|x), trained jointly '
                          '(Flow++)')
  train.add_argument('--flip', action='store_true',
                     help='random horizontal flips')
  train.add_argument('--seed', type=int, default=0)
  train.add_argument('--strategy', default='default',
                     choices=['default', 'mirrored', 'multiworker'],
                     help='tf.distribute strategy (multiworker reads TF_CONFIG)')
  train.add_argument('--cpu-replicas', type=int, default=None,
                     help='with --strategy mirrored and no GPU: split the CPU '
                          'into this many replicas')
  train.add_argument('--checkpoint-every', type=int, default=None,
                     help='also checkpoint every N steps (always per epoch)')
  for key in ('conv', 'centre', 'coupling'):
    train.add_argument(f'--{key}', default=None)
  for key in ('levels', 'depth', 'hidden-width'):
    train.add_argument(f'--{key}', type=int, default=None)
  train.set_defaults(handler=_train)

  evaluate = sub.add_parser('evaluate', help='test bits/dim of a run')
  evaluate.add_argument('--run', required=True)
  evaluate.add_argument('--dataset', default=None)
  evaluate.add_argument('--data-dir', default=None)
  evaluate.set_defaults(handler=_evaluate)

  sample = sub.add_parser('sample', help='sample grid PNG per temperature')
  sample.add_argument('--run', required=True)
  sample.add_argument('--num', type=int, default=16)
  sample.add_argument('--temperatures', type=float, nargs='+',
                      default=[0.5, 0.7, 1.0])
  sample.add_argument('--seed', type=int, default=0)
  sample.add_argument('--output', default=None)
  sample.set_defaults(handler=_sample)

  interpolate = sub.add_parser('interpolate',
                               help='latent interpolation between test images')
  interpolate.add_argument('--run', required=True)
  interpolate.add_argument('--pairs', type=int, nargs='+', default=[0, 1],
                           help='test-set indices a1 b1 [a2 b2 ...]')
  interpolate.add_argument('--num', type=int, default=8)
  interpolate.add_argument('--dataset', default=None)
  interpolate.add_argument('--data-dir', default=None)
  interpolate.add_argument('--output', default=None)
  interpolate.set_defaults(handler=_interpolate)

  manipulate = sub.add_parser(
      'manipulate', help='move test images along an attribute direction')
  manipulate.add_argument('--run', required=True)
  manipulate.add_argument('--attribute', required=True,
                          help="CelebA attribute (e.g. Smiling) or class index")
  manipulate.add_argument('--scales', type=float, nargs='+',
                          default=[-1., -0.5, 0., 0.5, 1.])
  manipulate.add_argument('--num', type=int, default=8)
  manipulate.add_argument('--examples', type=int, default=10000,
                          help='labelled training images for the direction')
  manipulate.add_argument('--dataset', default=None)
  manipulate.add_argument('--data-dir', default=None)
  manipulate.add_argument('--output', default=None)
  manipulate.set_defaults(handler=_manipulate)
  return p


def main(argv=None):
  args = parser().parse_args(argv)
  args.handler(args)


if __name__ == '__main__':
  main()
