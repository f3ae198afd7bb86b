"""python -m training {train, evaluate, sample, interpolate, manipulate} ...

  python -m training train --preset demo --dataset digits --steps 300 --out runs/demo
  python -m training evaluate --run runs/demo
  python -m training sample --run runs/demo --temperatures 0.5 0.7 1.0
  python -m training sample --pretrained mnist --temperatures 0.7 1.0
  python -m training interpolate --run runs/demo --pairs 0 1 2 3
  python -m training manipulate --run runs/celeba --attribute Smiling
"""

import argparse
import functools
import math
import os
import signal
import sys

from training import quiet



class _HelpFormatter(argparse.HelpFormatter):
  """Every option's help ends with its default (when it has one)."""

  def _get_help_string(self, action):
    text = action.help or ''
    default = action.default
    if ('%(default)' in text or default is None or default is False
        or default == [] or default is argparse.SUPPRESS):
      return text
    if isinstance(default, (list, tuple)):
      default = ' '.join(str(v) for v in default)
    return f'{text} (default: {str(default).replace("%", "%%")})'


INTERRUPTED = 130  # the exit status of a run stopped by SIGINT or SIGTERM


class UsageError(Exception):
  """A user error: printed as one line, without a traceback."""


def _config(args, train_data):
  from training import presets
  config = presets.get(args.preset, model=args.model, variant=args.variant,
                       order=args.order, components=args.components,
                       blocks=args.blocks, conv=args.conv, centre=args.centre,
                       coupling=args.coupling, scale=args.scale,
                       log_scale_bound=args.log_scale_bound,
                       levels=args.levels,
                       depth=args.depth, hidden_width=args.hidden_width,
                       batch_size=args.batch_size, lr=args.lr,
                       warmup_steps=args.warmup_steps)
  config.update(dataset=args.dataset, image_shape=list(train_data.image_shape),
                num_levels=train_data.num_levels, seed=args.seed,
                dequantization=args.dequantization, lr_drops=args.lr_drops,
                dequantizer_base=('logistic' if args.dequantization ==
                                  'variational' else None),
                base_df=args.base_df or None,
                mixed_precision=bool(args.mixed_precision))
  return config


def _stop_on_signals():
  """SIGINT and SIGTERM stop training as Ctrl-C does, saving the state. (A
  job that a shell starts with `&` inherits SIGINT ignored, and Python
  leaves it so unless told.)"""
  for stop in (signal.SIGINT, signal.SIGTERM):
    signal.signal(stop, signal.default_int_handler)


def _train(args):
  import keras
  import tensorflow as tf
  from tfp_invconv import replicas
  from training import (artifacts, callbacks, data, distribute, presets,
                        provenance)

  _stop_on_signals()
  strategy = args.distribution
  out = distribute.worker_output_dir(strategy, args.out)
  keras.utils.set_random_seed(args.seed)
  train_data = data.load(args.dataset, 'train', args.data_dir, args.download)
  try:
    test_data = data.load(args.dataset, 'test', args.data_dir, args.download)
  except (KeyError, data.MissingSplit, RuntimeError) as missing:
    print(f'no test split ({missing}): training without held-out bits/dim '
          '(no val_bpd column in history.csv)', flush=True)
    test_data = None
  config = _config(args, train_data)
  saved = artifacts.read_config(out)
  for key in ('scale', 'log_scale_bound', 'conf_growth'):
    # A run saved before scales were bounded resumes with the scales it has.
    if saved and getattr(args, key, None) is None:
      config[key] = presets.model_options(saved)[key]
  if saved and args.base_df is None:  # a run resumes with its base
    config['base_df'] = saved.get('base_df')
  if saved and saved.get('dequantization') == config['dequantization']:
    # and with its dequantizer (none named: the Gaussian of older runs)
    config['dequantizer_base'] = saved.get('dequantizer_base')
  if saved and args.mixed_precision is None:  # and with its precision
    config['mixed_precision'] = saved.get('mixed_precision', False)
  change = saved and artifacts.architecture_change(saved, config)
  if change:
    raise UsageError(f'{out} holds a run of another architecture ({change}); '
                     'train into a new --out, or repeat the options it was '
                     'trained with')
  if args.memory_saving and config.get('model') == 'pac':
    raise UsageError('--memory-saving is an option of CInC flows (--model '
                     'cinc)')
  # Everything that makes variables (the model, its optimizer's slots, the
  # weight average) is made inside the strategy's scope.
  with strategy.scope():
    model = artifacts.build_model(
        config, **({'memory_saving': args.memory_saving}
                   if args.memory_saving else {}))
    schedule = callbacks.WarmupSchedule(config['lr'], config['warmup_steps'],
                                        config['lr_drops'])
    optimizer_cls = {'adamax': keras.optimizers.Adamax,
                     'adam': keras.optimizers.Adam}[args.optimizer]
    model.compile(optimizer=optimizer_cls(learning_rate=schedule,
                                          clipnorm=args.clip_norm),
                  jit_compile=args.jit)
    average = callbacks.WeightAverage(model) if args.ema else None
    state = callbacks.TrainingState(
        model, os.path.join(out, 'checkpoints'), average=average,
        restore_from=os.path.join(args.out, 'checkpoints'))
    step = state.restore()
  if model.pixel_shape != model.image_shape:
    print(f'padding the {_size(model.pixel_shape)} images to '
          f'{_size(model.image_shape)}, which the flow\'s squeezes divide '
          '(bits/dim counts the padding)')

  batch_size = config['batch_size']
  if train_data.size is None:
    raise UsageError(f'the number of images in {args.dataset!r} is unknown, '
                     'so an epoch has no length; use a dataset whose size is '
                     'recorded')
  steps_per_epoch = math.ceil(train_data.size / batch_size)
  total_steps = args.steps or args.epochs * steps_per_epoch

  if step >= total_steps:
    print(f'{out} has trained {step} steps already, --steps/--epochs ask for '
          f'{total_steps}: nothing to train (its config.json stays as it is)')
    return
  # After a successful restore only, and noting what changed from this step.
  artifacts.save_config(out, artifacts.with_segment(saved, config, step))
  provenance.record(out, step, args.threads, args.argv)
  history_path = os.path.join(out, 'history.csv')
  callbacks.truncate_history(history_path, step)
  if step:
    print(f'resuming from step {step} (checkpoint {state.manager.latest_checkpoint})')
  train_batches = data.batches(train_data, batch_size, flip=args.flip,
                               seed=args.seed, repeat=True, skip=step)
  validation = (data.batches(test_data, batch_size, shuffle=False)
                if test_data is not None else None)
  best = min(callbacks.read_history(history_path).get('bpd', [math.inf]))
  fit_callbacks = [average] if average else []
  fit_callbacks += [
      callbacks.ResumedEpochMeans(state, mid_epoch=step % steps_per_epoch > 0),
      callbacks.HistoryLog(history_path, state),
      callbacks.StepCheckpoint(state, args.checkpoint_every),
      callbacks.TerminateOnNaN(),
      callbacks.BestWeights(os.path.join(out, artifacts.WEIGHTS), best,
                            average),
      keras.callbacks.TensorBoard(os.path.join(out, 'logs')),
      callbacks.Progress(out, train_data.num_levels, average=average),
      callbacks.StepLog(state, total_steps, args.log_every),
  ]
  try:
    for initial_epoch, last_epoch, steps in callbacks.fit_plan(
        step, steps_per_epoch, total_steps):
      model.fit(train_batches, initial_epoch=initial_epoch, epochs=last_epoch,
                steps_per_epoch=steps, validation_data=validation,
                callbacks=fit_callbacks, verbose=0)
      if model.stop_training:
        sys.exit('training stopped: bits/dim became NaN or Inf; the last good '
                 f'state is in {state.manager.directory}')
  except KeyboardInterrupt:
    state.save()
    print(f'\ninterrupted at step {state.step}; rerun the same command to '
          'resume', file=sys.stderr)
    sys.exit(INTERRUPTED)
  except tf.errors.UnavailableError:
    if not replicas.is_multi_worker(strategy):
      raise
    distribute.restart_after_lost_peer(state.manager.latest_checkpoint)
  finally:
    provenance.finish(out, state.step)
  print(f'trained {state.step} steps')
  print(f'weights: {os.path.join(out, artifacts.WEIGHTS)}\n'
        f'samples: {os.path.join(out, "samples.png")}\n'
        f'curve:   {os.path.join(out, "bpd.png")}')


def _load(args):
  """(model, config) of --run or --pretrained, XLA compiled with --jit."""
  from training import artifacts, pretrained
  if args.pretrained is None:
    model, config = artifacts.load_model(args.run)
  else:
    model, config = pretrained.load(args.pretrained)
    print(pretrained.header(args.pretrained))
  model.jit_compile = args.jit
  return model, config


def _output(args, default_name):
  """--output, or `default_name` in the run folder; for a pretrained model,
  in runs/pretrained_NAME (made if needed), as a run of one's own would be,
  rather than among whatever the current folder holds."""
  if args.output:
    return args.output
  folder = args.run or os.path.join('runs', f'pretrained_{args.pretrained}')
  os.makedirs(folder, exist_ok=True)
  return os.path.join(folder, default_name)


def _evaluate(args):
  import numpy as np
  from training import data, scores
  model, config = _load(args)
  dataset = args.dataset or config['dataset']
  test = data.load(dataset, 'test', args.data_dir)
  bpd = data.bits_per_dim_per_image(model, test, progress=True)
  source = (f'--pretrained {args.pretrained}' if args.pretrained
            else f'--run {args.run}')
  tail = scores.statistics(bpd)['tail_images']
  for line in scores.summary(
      bpd, worst_command=f'python -m training evaluate {source} --worst {tail}'):
    print(line)
  if args.run:
    scores.record(args.run, bpd, dataset)
  if args.worst:
    _show_worst(args, test, bpd, config['num_levels'], dataset)
  return float(np.mean(bpd))


def _show_worst(args, test, bpd, num_levels, dataset):
  """Prints the test images of highest bits/dim and their share of the
  mean, and saves them as a PNG and their numbers as JSON beside it: a mean
  that a few images dominate says so here."""
  import numpy as np
  from training import artifacts, files
  from training.scores import formatted
  worst = np.argsort(-np.nan_to_num(bpd, nan=np.inf))[:args.worst]
  rest = np.delete(bpd, worst)
  added = np.mean(bpd) - np.mean(rest)
  print(f'the {len(worst)} highest (test image: bits/dim): ' + ', '.join(
      f'{i}: {formatted(bpd[i])}' for i in worst))
  print(f'they add {formatted(added)} to the mean; the '
        f'other {len(rest)} average {formatted(np.mean(rest))}')
  images = next(iter(test.images.batch(int(worst.max()) + 1))).numpy()
  path = _output(args, 'worst_test_images.png')
  artifacts.save_grid(path, images[worst], num_levels, rows=len(worst),
                      title='highest bits/dim',
                      row_labels=[f'{i}: {formatted(bpd[i])}' for i in worst])
  report = os.path.splitext(path)[0] + '.json'
  files.write_json(report, dict(
      command=' '.join(['python -m training'] + args.argv), dataset=dataset,
      images=len(bpd), worst={int(i): float(bpd[i]) for i in worst},
      added_to_the_mean=float(added), mean_of_the_others=float(np.mean(rest))))
  print(f'images: {path}\nnumbers: {report}')


def _sample(args):
  import numpy as np
  from training import artifacts
  model, config = _load(args)
  grids, finites = [], []
  for t in args.temperatures:
    print(f'sampling {args.num} images at T = {t}', flush=True)
    images, finite = model.to_pixels(model.sample(args.num, t, seed=args.seed))
    _report_overflow(finite, f'samples at T = {t}')
    grids.append(images.numpy())
    finites.append(finite.numpy())
  path = _output(args, 'samples_by_temperature.png')
  artifacts.save_grid(path, np.concatenate(grids), config['num_levels'],
                      rows=len(args.temperatures), title='samples',
                      row_labels=[f'T = {t}' for t in args.temperatures],
                      finite=np.concatenate(finites))
  print(f'samples: {path}')


def _report_overflow(finite, what):
  """One stderr line when some images decoded to NaN or Inf values."""
  import numpy as np
  overflowed = int(np.sum(~np.asarray(finite)))
  if overflowed:
    print(f'{overflowed} of {np.size(finite)} {what} overflowed (NaN or Inf '
          'values; red crosses in the grid)', file=sys.stderr)


def _interpolate(args):
  import numpy as np
  from tfp_invconv import latent
  from training import artifacts, data
  model, config = _load(args)
  test = data.load(args.dataset or config['dataset'], 'test', args.data_dir)
  if len(args.pairs) % 2:
    raise UsageError(f'--pairs takes pairs of indices, got {len(args.pairs)} '
                     'numbers')
  images = next(iter(test.images.batch(max(args.pairs) + 1))).numpy()
  if min(args.pairs) < 0 or max(args.pairs) >= len(images):
    raise UsageError(f'--pairs: indices must lie in [0, {len(images)}), the '
                     'test images of the run\'s dataset')
  rows, finite = zip(*(latent.interpolate(model, images[a], images[b],
                                          args.num)
                        for a, b in zip(args.pairs[::2], args.pairs[1::2])))
  _report_overflow(np.concatenate(finite), 'interpolated images')
  rows = [row.numpy() for row in rows]
  path = _output(args, 'interpolation.png')
  artifacts.save_grid(path, np.concatenate(rows), config['num_levels'],
                      rows=len(rows), title='latent interpolation',
                      row_labels=[f'{a} -> {b}' for a, b in
                                  zip(args.pairs[::2], args.pairs[1::2])],
                      finite=np.concatenate(finite))
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
  moved, finite = latent.manipulate(model, images, direction, args.scales)
  _report_overflow(finite, 'manipulated images')
  moved = moved.numpy()
  path = args.output or os.path.join(args.run, f'manipulate_{args.attribute}.png')
  artifacts.save_grid(path, moved.reshape((-1,) + moved.shape[2:]),
                      config['num_levels'], rows=len(args.scales),
                      title=f'attribute {args.attribute}',
                      row_labels=[f'scale {s}' for s in args.scales],
                      finite=np.reshape(finite, [-1]))
  np.save(os.path.join(args.run, f'direction_{args.attribute}.npy'),
          direction.numpy())
  print(f'manipulation: {path}')


def _startup_options(argv):
  """(threads, strategy, cpu replicas) of a command line, which TensorFlow
  needs before it initialises: 0, 'default' and None when absent or
  malformed (the full parser then reports them)."""
  pre = argparse.ArgumentParser(add_help=False)
  pre.add_argument('command', nargs='?')
  pre.add_argument('--threads', default='0')
  pre.add_argument('--strategy', default='default')
  pre.add_argument('--cpu-replicas', default='')
  known = pre.parse_known_args(argv)[0]
  threads = int(known.threads) if known.threads.isdigit() else 0
  replicas = int(known.cpu_replicas) if known.cpu_replicas.isdigit() else None
  strategy = known.strategy if known.command == 'train' else 'default'
  return threads, strategy, replicas


def _strategy_maker(strategy, cpu_replicas):
  """The distribution strategy, made before TensorFlow's first op: logical
  CPU devices and collective ops can be set up only then."""
  def make():
    from training import distribute
    if strategy not in distribute.STRATEGIES:
      return None  # the full parser reports the bad choice
    return distribute.make_strategy(strategy, cpu_replicas)
  return make


def _size(shape):
  return ' x '.join(map(str, shape[:2]))


class _Parser(argparse.ArgumentParser):
  """Reports a bad option in one line (no usage dump)."""

  def error(self, message):
    self.exit(2, f'{self.prog}: error: {message}\n')


def _positive_int(text):
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
  if value < 1:
    raise argparse.ArgumentTypeError(f'must be a positive integer, got {value}')
  return value


def _lr_drop(text):
  """'STEP=LR' -> [STEP, LR], with STEP >= 0 and LR > 0."""
  step, _, rate = text.partition('=')
  try:
    step, rate = int(step), float(rate)
  except ValueError:
    raise argparse.ArgumentTypeError(
        f'{text!r} is not STEP=LR (e.g. 30000=1e-4)') from None
  if step < 0 or not rate > 0:
    raise argparse.ArgumentTypeError(
        f'{text!r}: the step must be >= 0 and the learning rate > 0')
  return [step, rate]


def _from_preset(key):
  """The help text's note that the preset sets `key`, with the demo's."""
  from training import presets
  demo = presets.get('demo').get(key)
  return (" (default: the preset's" +
          (f'; demo: {demo}' if demo is not None else '') + ')')


_JIT_HELP = 'compile with XLA (jit_compile=True), the path GPUs and TPUs take'


def _add_model_source(command):
  from training.pretrained import NAMES
  source = command.add_mutually_exclusive_group(required=True)
  source.add_argument('--run', help='training output folder')
  source.add_argument('--pretrained', choices=sorted(NAMES),
                      help='a model shipped with the repository '
                           '(training/pretrained.py)')
  command.add_argument('--jit', action='store_true', help=_JIT_HELP)


def parser():
  from tfp_invconv.bijectors.pac_conv import ORDERS
  from tfp_invconv.bijectors.pac_coupling import VARIANTS
  from tfp_invconv.bijectors.coupling import SCALES
  from tfp_invconv.flows import CENTRES, CONVS, COUPLINGS
  from training.presets import MODELS, PRESETS
  p = _Parser(prog='python -m training', formatter_class=_HelpFormatter,
              description='Train and use CInC and PAC flows.')
  sub = p.add_subparsers(dest='command', required=True,
                         parser_class=functools.partial(
                             _Parser, formatter_class=_HelpFormatter))

  train = sub.add_parser('train', help='train a flow (resumes automatically)')
  train.add_argument('--preset', default='demo', choices=sorted(PRESETS),
                     help='model and optimizer settings (training/presets.py); '
                          'the options below override them')
  train.add_argument('--dataset', default='digits',
                     help="'digits', a tfds name, a .npz file or an image folder")
  train.add_argument('--data-dir', default=None, help='tfds data directory')
  train.add_argument('--download', action='store_true',
                     help='let tensorflow-datasets download and prepare the '
                          'dataset (needs the network)')
  train.add_argument('--out', required=True, help='output folder')
  train.add_argument('--steps', type=_positive_int, default=None,
                     help='total training steps, exactly (overrides --epochs; '
                          'the last epoch is cut short if needed)')
  train.add_argument('--epochs', type=_positive_int, default=10,
                     help='passes over the training set, when --steps is '
                          'not given')
  train.add_argument('--batch-size', type=_positive_int, default=None,
                     help='images per step' + _from_preset('batch_size'))
  train.add_argument('--log-every', type=_positive_int, default=50,
                     help='print a progress line (bits/dim, steps/s, ETA) '
                          'every N steps')
  train.add_argument('--lr', type=float, default=None,
                     help='peak learning rate (after the warm-up)'
                          + _from_preset('lr'))
  train.add_argument('--warmup-steps', type=int, default=None,
                     help='linear learning-rate warm-up, in steps'
                          + _from_preset('warmup_steps'))
  train.add_argument('--lr-drops', nargs='+', type=_lr_drop, default=[],
                     metavar='STEP=LR',
                     help='from step STEP on, train at learning rate LR '
                          '(e.g. --lr-drops 30000=1e-4 40000=3e-5)')
  train.add_argument('--optimizer', choices=['adamax', 'adam'],
                     default='adamax', help='Keras optimizer')
  train.add_argument('--clip-norm', type=float, default=None,
                     help='clip each gradient to this norm')
  train.add_argument('--ema', action='store_true',
                     help='keep a Polyak average of the weights (decay '
                          '0.999); held-out bits/dim, the saved best weights '
                          'and the samples use it, training and resume use '
                          'the raw weights')
  train.add_argument('--base-df', type=float, default=None,
                     help="Student's t base with this many degrees of "
                          'freedom (0: the standard normal; default: the '
                          "normal, or a resumed run's base): an image the "
                          'flow maps far out then costs tens of bits/dim, '
                          'not 1e10'),
  train.add_argument('--mixed-precision', default=None,
                     action=argparse.BooleanOptionalAction,
                     help='conditioners in bfloat16 around the float32 '
                          'bijection, on a CPU with AVX512-BF16 or AMX or on '
                          'a GPU (elsewhere float32, with a warning); '
                          "default: off, or a resumed run's mode"),
  train.add_argument('--dequantization', default='uniform',
                     choices=['uniform', 'variational', 'center'],
                     help='uniform: uniform noise; variational: a learned '
                          'q(u|x), trained jointly (Flow++); center: every '
                          'pixel at its bin centre, deterministic (for '
                          'comparing runs exactly, not for likelihoods)')
  train.add_argument('--flip', action='store_true',
                     help='random horizontal flips')
  train.add_argument('--seed', type=int, default=0,
                     help='seed of the weights, the data order and the noise')
  train.add_argument('--strategy', default='default',
                     choices=['default', 'mirrored', 'multiworker'],
                     help='tf.distribute strategy (multiworker reads TF_CONFIG)')
  train.add_argument('--cpu-replicas', type=int, default=None,
                     help='with --strategy mirrored and no GPU: split the CPU '
                          'into this many replicas')
  train.add_argument('--threads', type=_positive_int, default=None,
                     help='TensorFlow threads per pool (default: all cores)')
  train.add_argument('--memory-saving', nargs='?', const='recompute',
                     choices=['recompute', 'inverse'], default=None,
                     help='recompute each flow step\'s activations in the '
                          'backward pass from its kept input (recompute, the '
                          'default), or rebuild every step\'s input from the '
                          'level\'s output with the exact inverses '
                          '(inverse), instead of keeping them: training '
                          'memory stops growing with the depth, for about '
                          'one more forward pass (and with inverse, one '
                          'inverse pass)')
  train.add_argument('--jit', action='store_true',
                     help=_JIT_HELP + ': the train step and the samples')
  train.add_argument('--checkpoint-every', type=int, default=None,
                     help='also checkpoint every N steps (always per epoch)')
  for key, choices in (('model', MODELS), ('conv', CONVS),
                       ('centre', CENTRES), ('coupling', COUPLINGS),
                       ('scale', SCALES),
                       ('variant', VARIANTS), ('order', ORDERS)):
    train.add_argument(f'--{key}', default=None, choices=choices,
                       help=f'{key} of the flow' + _from_preset(key))
  train.add_argument('--log-scale-bound', type=float, default=None,
                     help="c of the 'tanh' scales, log s = c tanh(r / c)"
                          + _from_preset('log_scale_bound'))
  for key in ('levels', 'depth', 'hidden-width', 'blocks', 'components'):
    train.add_argument(f'--{key}', type=_positive_int, default=None,
                       help=f'{key} of the flow'
                            + _from_preset(key.replace('-', '_')))
  train.set_defaults(handler=_train)

  evaluate = sub.add_parser('evaluate', help='test bits/dim of a run')
  _add_model_source(evaluate)
  evaluate.add_argument('--dataset', default=None,
                        help="another test set (default: the run's)")
  evaluate.add_argument('--data-dir', default=None,
      help='tensorflow-datasets data folder')
  evaluate.add_argument('--worst', type=_positive_int, default=None,
                        metavar='N',
                        help='also list the N test images of highest '
                             'bits/dim, their share of the mean, and save '
                             'them as a PNG')
  evaluate.add_argument('--output', default=None,
                        help='PNG of --worst (default: worst_test_images.png '
                             'in the run folder, or in runs/pretrained_NAME/)')
  evaluate.set_defaults(handler=_evaluate)

  sample = sub.add_parser('sample', help='sample grid PNG per temperature')
  _add_model_source(sample)
  sample.add_argument('--num', type=_positive_int, default=16,
                      help='images per temperature')
  sample.add_argument('--temperatures', type=float, nargs='+',
                      default=[0.5, 0.7, 1.0],
                      help='latent temperatures T, one grid row each '
                           '(z ~ N(0, T^2))')
  sample.add_argument('--seed', type=int, default=0, help='latent seed')
  sample.add_argument('--output', default=None,
                      help='PNG path (default: samples_by_temperature.png in '
                           'the run folder, or in runs/pretrained_NAME/ for '
                           '--pretrained NAME)')
  sample.set_defaults(handler=_sample)

  interpolate = sub.add_parser('interpolate',
                               help='latent interpolation between test images')
  _add_model_source(interpolate)
  interpolate.add_argument('--pairs', type=int, nargs='+', default=[0, 1],
                           help='test-set indices a1 b1 [a2 b2 ...]')
  interpolate.add_argument('--num', type=_positive_int, default=8,
                           help='images per interpolation row')
  interpolate.add_argument('--dataset', default=None,
                           help="dataset of the images (default: the run's)")
  interpolate.add_argument('--data-dir', default=None,
      help='tensorflow-datasets data folder')
  interpolate.add_argument('--output', default=None, help='PNG path')
  interpolate.set_defaults(handler=_interpolate)

  manipulate = sub.add_parser(
      'manipulate', help='move test images along an attribute direction')
  manipulate.add_argument('--run', required=True,
                          help='training output folder')
  manipulate.add_argument('--attribute', required=True,
                          help="CelebA attribute (e.g. Smiling) or class index")
  manipulate.add_argument('--scales', type=float, nargs='+',
                          default=[-1., -0.5, 0., 0.5, 1.],
                          help='multiples of the attribute direction added to '
                               'each image\'s latent, one grid row each')
  manipulate.add_argument('--num', type=_positive_int, default=8,
                          help='test images to move')
  manipulate.add_argument('--examples', type=int, default=10000,
                          help='labelled training images for the direction')
  manipulate.add_argument('--dataset', default=None,
                          help="dataset of the images (default: the run's)")
  manipulate.add_argument('--data-dir', default=None,
      help='tensorflow-datasets data folder')
  manipulate.add_argument('--output', default=None, help='PNG path')
  manipulate.set_defaults(handler=_manipulate)
  return p


def main(argv=None):
  # The option choices come from the library, whose import starts
  # TensorFlow, so the options it needs at start-up are read first.
  threads, strategy, cpu_replicas = _startup_options(argv)
  distribution = quiet.import_tensorflow(
      threads=threads,
      before_first_op=_strategy_maker(strategy, cpu_replicas))
  args = parser().parse_args(argv)
  args.distribution = distribution
  args.argv = sys.argv[1:] if argv is None else list(argv)
  from training import data
  try:
    args.handler(args)
  except (UsageError, data.DataError, FileNotFoundError) as error:
    sys.exit(f'{parser().prog} {args.command}: error: {error}')


def _exit_at_once_when_interrupted():
  """Runs `main`; after an interrupt, whose state `_train` has saved, the
  process ends at once: the interpreter's usual teardown waits on
  TensorFlow's threads for 4 to 18 s (MNIST, measured), long enough for a
  user to press Ctrl-C again mid-checkpoint or a scheduler to kill."""
  try:
    main()
  except SystemExit as stop:
    if stop.code != INTERRUPTED:
      raise
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)


if __name__ == '__main__':
  _exit_at_once_when_interrupted()
