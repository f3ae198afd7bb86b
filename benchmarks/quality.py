"""Held-out bits/dim at a fixed CPU budget, side by side (CInC Tables 1-3).

Glow-affine, emerging-affine, CInC-affine and CInC-quad (the package's CInC,
with an LU centre tap), the paper's CInC-affine (triangular centre), the
CONF flow (1x1 + symmetric conv, CONF coupling), CInC with neural spline
flows' rational-quadratic spline coupling (cinc-spline) and CInC-affine with
bfloat16 conditioners (cinc-affine-mixed) are trained for the same
number of steps on full MNIST (3 seeds) and the CIFAR-10 subset (2 seeds)
from a data folder holding `mnist.npz` and `cifar10_subset.npz`. Every
model has D steps per level and a coupling width chosen so that its
parameter count is the closest to Glow-affine's at `--width`. The result is
held-out bits/dim (uniform dequantization) on the whole test split, mean +-
sd over seeds, learning curves on a fixed held-out subset in one PNG, and
the paper's orderings checked against the numbers.

Each run writes its result to `<runs>/<dataset>_<model>_seed<k>.json` the
moment it ends, together with the settings it was trained with; a rerun
skips the runs already there with the same settings. A run in progress
checkpoints its weights, optimizer state and curve under `<runs>/partial/`
at every evaluation, so an interrupted benchmark resumes mid-run
(benchmarks/runs.py, shared with the other benchmarks that train). Runs go
to `--jobs` worker processes that share the cores.

  python -m benchmarks.quality --data ../shared/data

The machinery (plan, resumable runs, table, curves, verdicts) serves any
suite of models: a module with TITLE, MODELS, DATASETS, REFERENCE, KNOB (the
option matched across models for equal parameter counts), CLAIMS,
`make_flow(image_shape, model, levels, args, knob)` and `describe(args)`,
run by `main(argv, suite=module name)` (see benchmarks/pac.py).
"""

import concurrent.futures
import importlib
import math
import multiprocessing
import os
import statistics
import threading
import time

from benchmarks import common
from benchmarks import runs
from training import provenance

MODELS = {  # name: CInCFlow options
    'glow-affine': dict(conv='1x1', coupling='affine'),
    'emerging-affine': dict(conv='emerging', coupling='affine'),
    'cinc-affine': dict(conv='cinc', centre='lu', coupling='affine'),
    'cinc-paper-affine': dict(conv='cinc', centre='triangular',
                              coupling='affine'),
    'cinc-quad': dict(conv='cinc', centre='lu', coupling='quad'),
    'conf': dict(conv='symmetric', coupling='conf'),
    'cinc-spline': dict(conv='cinc', centre='lu', coupling='spline'),
    'cinc-affine-mixed': dict(conv='cinc', centre='lu', coupling='affine'),
}
# Models trained with bfloat16 conditioners (FlowModel(mixed_precision=True)).
MIXED_PRECISION = ('cinc-affine-mixed',)
DATASETS = {
    'mnist': dict(file='mnist.npz', levels=2, seeds=3, steps=3000),
    'cifar10': dict(file='cifar10_subset.npz', levels=3, seeds=2, steps=2000),
}
# Options that change what a run measures; a saved result counts only if
# they match.
SETTINGS = ('batch', 'lr', 'warmup_steps', 'eval_every', 'curve_images')
MODEL_SETTINGS = ('depth',)  # this suite's
# The scales every run had before they were options: a setting counts only
# when it differs, so those runs' results stay valid.
LEGACY_SCALES = {'scale': 'sigmoid', 'conf_growth': 'power'}
REFERENCE = 'glow-affine'
TITLE = 'Held-out bits/dim at a fixed CPU budget'
KNOB = 'width'


def make_flow(image_shape, model, levels, args, width):
  import tfp_invconv as ti
  return ti.CInCFlow(image_shape, levels=levels, depth=args.depth,
                     hidden_width=width, scale=args.scale,
                     log_scale_bound=args.log_scale_bound,
                     conf_growth=args.conf_growth, **MODELS[model])


def describe(args):
  return (f'depth D = {args.depth} per level (L = 2 on 28 x 28 MNIST, 3 on '
          '32 x 32 CIFAR-10). Widths match each model\'s parameter count to '
          f'Glow-affine at width {args.width}.')


def _suite(args):
  return importlib.import_module(args.suite)


_PARAMETER_COUNTS = {}


def count_params(args, image_shape, model, levels, knob):
  """Parameters of the suite's flow (cached: the width bisection asks for
  the same counts again)."""
  suite = _suite(args)
  key = (args.suite, image_shape, model, levels, knob,
         tuple(getattr(args, k) for k in suite.MODEL_SETTINGS))
  if key not in _PARAMETER_COUNTS:
    flow = suite.make_flow(image_shape, model, levels, args, knob)
    _PARAMETER_COUNTS[key] = int(sum(v.shape.num_elements()
                                     for v in flow.trainable_variables))
  return _PARAMETER_COUNTS[key]


def matched_knob(args, image_shape, model, levels, target):
  """The value of the suite's KNOB whose parameter count is the closest to
  `target` (the count grows with it, so a bisection finds it)."""
  count = lambda w: count_params(args, image_shape, model, levels, w)
  low, high = 1, 2
  while count(high) < target:
    low, high = high, high * 2
  while high - low > 1:
    mid = (low + high) // 2
    low, high = (mid, high) if count(mid) < target else (low, mid)
  return min((low, high), key=lambda w: abs(count(w) - target))


def _steps(args, dataset):
  return args.steps or _suite(args).DATASETS[dataset]['steps']


def plan(args):
  """One dict per run: dataset, model, seed, the suite's KNOB value and
  parameter count."""
  import numpy as np
  suite = _suite(args)
  planned = []
  for name in args.datasets:
    spec = suite.DATASETS[name]
    with np.load(os.path.join(args.data, spec['file'])) as arrays:
      image_shape = arrays['x_test'].shape[1:]
    image_shape = tuple(image_shape) + (1,) * (3 - len(image_shape))
    reference = getattr(args, suite.KNOB)
    target = count_params(args, image_shape, suite.REFERENCE, spec['levels'],
                          reference)
    for model in args.models:
      knob = (reference if model == suite.REFERENCE else matched_knob(
          args, image_shape, model, spec['levels'], target))
      params = count_params(args, image_shape, model, spec['levels'], knob)
      planned += [dict(dataset=name, model=model, seed=seed, params=params,
                       levels=spec['levels'], steps=_steps(args, name),
                       **{suite.KNOB: knob})
                  for seed in range(spec['seeds'])]
  return planned


def _run(args, run):
  """The resumable run of `run` (a plan entry): its result must match the
  settings, the step count and the matched knob."""
  knob = _suite(args).KNOB
  return runs.Run(
      os.path.join(args.runs, f'{run["dataset"]}_{run["model"]}_seed'
                   f'{run["seed"]}.json'),
      settings=settings(args), steps=run['steps'], **{knob: run[knob]})


def settings(args):
  """What a saved run must match. Gradient clipping counts only when on, so
  the runs saved before it was an option stay valid."""
  values = {k: getattr(args, k)
            for k in SETTINGS + _suite(args).MODEL_SETTINGS}
  if args.clip_norm is not None:
    values['clip_norm'] = args.clip_norm
  for key, legacy in LEGACY_SCALES.items():
    if getattr(args, key, legacy) != legacy:
      values[key] = getattr(args, key)
  if getattr(args, 'scale', 'sigmoid') == 'tanh':
    values['log_scale_bound'] = args.log_scale_bound
  return values


def _checkpoint_each_evaluation(state, curve, eval_every):
  """A Keras callback that adds each evaluation to the curve and, when the
  loss is finite, saves the curve, then the training state (Keras is
  imported in the workers, after their thread settings)."""
  import keras

  class CheckpointEachEvaluation(keras.callbacks.Callback):

    def on_epoch_end(self, epoch, logs=None):
      curve.append((epoch + 1) * eval_every, train_bpd=float(logs['bpd']),
                   curve_bpd=float(logs['val_bpd']))
      if math.isfinite(float(logs['bpd'])):
        curve.save()
        state.save()

  return CheckpointEachEvaluation()


def train_one(args, run):
  """Trains one model, resuming from its partial checkpoint; returns the run
  dict with its results added."""
  common.set_threads(args.threads)
  import keras
  from tfp_invconv.model import FlowModel
  from training import callbacks, data

  keras.utils.set_random_seed(run['seed'])
  suite = _suite(args)
  path = os.path.join(args.data, suite.DATASETS[run['dataset']]['file'])
  train, test = data.load(path, 'train'), data.load(path, 'test')
  model = FlowModel(suite.make_flow(train.image_shape, run['model'],
                                    run['levels'], args, run[suite.KNOB]),
                    num_levels=train.num_levels,
                    pixel_shape=train.image_shape,
                    mixed_precision=run['model'] in getattr(
                        suite, 'MIXED_PRECISION', ()))
  model.compile(optimizer=keras.optimizers.Adamax(
      callbacks.WarmupSchedule(args.lr, args.warmup_steps),
      clipnorm=args.clip_norm))
  saved = _run(args, run)
  state = callbacks.TrainingState(model, saved.partial, max_to_keep=1)
  step = state.restore() if saved.has_curve() else 0
  curve = saved.curve(step, args.threads)
  if curve.stale:
    raise RuntimeError(f'{saved.partial} holds a checkpoint of other '
                       'settings; delete it to retrain this run')
  curve_images = data.ImageData(test.images.take(args.curve_images),
                                test.image_shape, test.num_levels,
                                args.curve_images)
  model.fit(
      data.batches(train, args.batch, seed=run['seed'], repeat=True,
                   skip=step),
      steps_per_epoch=args.eval_every, initial_epoch=step // args.eval_every,
      epochs=run['steps'] // args.eval_every,
      validation_data=data.batches(curve_images, 500, shuffle=False),
      callbacks=[callbacks.TerminateOnNaN(), _checkpoint_each_evaluation(
          state, curve, args.eval_every)],
      verbose=0)
  return dict(run, batch=args.batch, resumed_at=step,
              mixed_precision=model.mixed_precision,
              test_bpd=data.mean_bits_per_dim(model, test, 500),
              curve_steps=curve.steps,
              train_bpd=curve.series.get('train_bpd', []),
              curve_bpd=curve.series.get('curve_bpd', []),
              segments=curve.segments, **curve.totals())


def _exit_with(parent):
  """Ends this worker when the benchmark process that started it dies
  (killed, not just interrupted), instead of training on orphaned."""
  def watch():
    while os.getppid() == parent:
      time.sleep(1)
    os._exit(1)
  threading.Thread(target=watch, daemon=True).start()


def is_done(args, run):
  """True when the run's result is saved with the current settings."""
  return _run(args, run).saved() is not None


def run_all(args, planned):
  """Trains the runs that have no result yet, `args.jobs` at a time."""
  todo = [r for r in planned if not is_done(args, r)]
  print(f'{len(planned) - len(todo)} of {len(planned)} runs already '
        f'done; {len(todo)} to go on {args.jobs} worker(s)', flush=True)
  context = multiprocessing.get_context('spawn')
  with concurrent.futures.ProcessPoolExecutor(
      args.jobs, mp_context=context, initializer=_exit_with,
      initargs=(os.getpid(),)) as pool:
    futures = {pool.submit(train_one, args, r): r for r in todo}
    for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
      result = future.result()
      run = _run(args, result)
      run.save(result)
      run.remove_partial()
      print(f'[{done}/{len(todo)}] {result["dataset"]} {result["model"]} '
            f'seed {result["seed"]}: test {result["test_bpd"]:.4f} bits/dim '
            f'in {result["wall_s"] / 60:.1f} min', flush=True)
  return saved_results(args, planned)


def saved_results(args, planned):
  """The saved results of the planned runs that are done."""
  results = [_run(args, r).saved() for r in planned]
  return [r for r in results if r is not None]


def summarize(results):
  """{(dataset, model): (mean, sd or None, [runs])}."""
  groups = {}
  for r in results:
    groups.setdefault((r['dataset'], r['model']), []).append(r)
  summary = {}
  for key, group in groups.items():
    values = [r['test_bpd'] for r in group]
    sd = statistics.stdev(values) if len(values) > 1 else None
    summary[key] = (statistics.mean(values), sd, group)
  return summary


# The claims checked: (name, first model, second model, kind), where kind
# 'better' means first < second beyond noise, 'equal' within noise, and
# 'no_worse' within noise or lower.
CLAIMS = [
    ('CInC beats Glow\'s 1x1 convolutions (Tables 1-2)', 'cinc-affine',
     'glow-affine', 'better'),
    ('CInC is no worse than emerging convolutions (Tables 1-2)',
     'cinc-affine', 'emerging-affine', 'no_worse'),
    ('Quad-coupling is no worse than affine coupling', 'cinc-quad',
     'cinc-affine', 'no_worse'),
    ('Quad-coupling beats affine coupling (Table 3)', 'cinc-quad',
     'cinc-affine', 'better'),
    ('The LU centre beats the paper\'s triangular centre', 'cinc-affine',
     'cinc-paper-affine', 'better'),
    ('The paper\'s CInC matches emerging convolutions (Tables 1-2)',
     'cinc-paper-affine', 'emerging-affine', 'equal'),
    ('Emerging convolutions beat Glow\'s 1x1 (Tables 1-2)', 'emerging-affine',
     'glow-affine', 'better'),
    ('bfloat16 conditioners match float32 ones', 'cinc-affine-mixed',
     'cinc-affine', 'equal'),
]


def verdict(summary, dataset, first, second, kind):
  """Plain-words check of one claim; differences are called real when they
  exceed twice the larger seed sd of the two models."""
  if (dataset, first) not in summary or (dataset, second) not in summary:
    return None
  mean_a, sd_a, _ = summary[dataset, first]
  mean_b, sd_b, _ = summary[dataset, second]
  diff = mean_a - mean_b
  text = f'{first} - {second} = {diff:+.4f} bits/dim'
  if sd_a is None or sd_b is None:
    if kind == 'equal':
      return f'{text}; one seed, so no seed spread to judge "equal" by'
    direction = ('in the claimed direction' if diff < 0
                 else 'against the claim')
    return (f'{text}; one seed: {direction}, with no seed spread to test '
            'its size against')
  noise = 2 * max(sd_a, sd_b)
  if kind == 'no_worse':
    outcome = ('holds' if diff <= noise
               else f'does not hold: {first} is worse')
  elif abs(diff) <= noise:
    outcome = ('holds' if kind == 'equal'
               else 'not shown: the difference is within seed noise')
  elif kind == 'equal':
    outcome = f'does not hold: {first} is {"better" if diff < 0 else "worse"}'
  else:
    outcome = 'holds' if diff < 0 else 'does not hold: reversed'
  return f'{text} (2 sd = {noise:.4f}): {outcome}'


def plot_curves(path, results, datasets, models):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  import numpy as np
  fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.5),
                           squeeze=False)
  for ax, name in zip(axes[0], datasets):
    for model in models:
      group = [r for r in results
               if r['dataset'] == name and r['model'] == model]
      if not group:
        continue
      length = min(len(r['curve_bpd']) for r in group)
      curves = np.array([r['curve_bpd'][:length] for r in group])
      steps = group[0]['curve_steps'][:length]
      mean = curves.mean(0)
      line, = ax.plot(steps, mean, label=f'{model} ({group[0]["params"]:,})')
      if len(group) > 1:
        sd = curves.std(0, ddof=1)
        ax.fill_between(steps, mean - sd, mean + sd, alpha=0.2,
                        color=line.get_color())
    ax.set_title(f'{name}: held-out bits/dim (mean +- sd over seeds)')
    ax.set_xlabel('training step')
    ax.set_ylabel('bits/dim')
    ax.grid(alpha=0.3)
    ax.legend(title='model (parameters)')
    finite = [r['curve_bpd'][-1] for r in results if r['dataset'] == name
              and math.isfinite(r['curve_bpd'][-1])]
    if finite:  # the first evaluations are far higher; keep the end readable
      ax.set_ylim(top=max(finite) + 3 * (max(finite) - min(finite) + 0.05))
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def trained_on(results):
  """The machines and code versions the runs record for their segments
  ('not recorded' for runs trained before they recorded them)."""
  segments = [s for r in results for s in r.get('segments', [])]
  unrecorded = sum('segments' not in r for r in results)
  described = '; '.join(sorted({s['machine'] for s in segments}))
  if segments:
    described += '; code ' + ', '.join(sorted({s['code'] for s in segments}))
  if unrecorded:
    described += ('; ' if described else '') + (
        f'not recorded by {unrecorded} of the {len(results)} runs (trained '
        'before runs recorded their machine and code)')
  return described


def report(args, command, results, wall_s, planned):
  suite = _suite(args)
  summary = summarize(results)
  clipping = ('' if args.clip_norm is None
              else f', gradients clipped to norm {args.clip_norm}')
  planned_note = ('' if len(results) == planned else
                  f'**Partial: {len(results)} of {planned} runs done; rerun '
                  'the command to finish.** ')
  rows = []
  for (name, model), (mean, sd, group) in summary.items():
    rows.append([name, model, group[0][suite.KNOB],
                 f'{group[0]["params"]:,}',
                 group[0]['steps'], len(group), f'{mean:.4f}',
                 '-' if sd is None else f'{sd:.4f}',
                 f'{statistics.mean(r["wall_s"] for r in group) / 60:.1f}',
                 f'{statistics.mean(r["cpu_s"] for r in group) / 60:.1f}'])
  claims = []
  for name in args.datasets:
    for claim, first, second, kind in suite.CLAIMS:
      text = verdict(summary, name, first, second, kind)
      if text:
        claims.append(f'- {name}, {claim}: {text}.')
  png = os.path.splitext(args.out)[0] + '.png'
  plot_curves(png, results, args.datasets, suite.MODELS)
  cpu_minutes = sum(r['cpu_s'] for r in results) / 60
  run_minutes = sum(r['wall_s'] for r in results) / 60
  common.write_markdown(
      args.out, suite.TITLE, command,
      f'{trained_on(results)}; {args.jobs} worker process(es)',
      ['dataset', 'model', suite.KNOB, 'parameters', 'steps', 'seeds',
       'test bits/dim (mean)', 'sd', 'wall min / run', 'CPU min / run'],
      rows,
      notes=[
          f'{planned_note}Each run: Adamax steps of batch {args.batch}, '
          f'learning rate {args.lr} after a {args.warmup_steps}-step linear '
          f'warm-up{clipping}, uniform dequantization; {suite.describe(args)} '
          'Test bits/dim: the whole held-out split (MNIST test, 10,000 '
          'images; CIFAR-10 subset `x_test`, 5,000 images).',
          '',
          f'Compute: {len(results)} runs, {cpu_minutes:.1f} CPU-minutes '
          f'and {run_minutes:.1f} run-minutes in all, about '
          f'{run_minutes / args.jobs:.0f} min of wall time on {args.jobs} '
          f'workers; this invocation took {wall_s / 60:.1f} min (it skips '
          'runs whose results were already saved). Steps are fixed, not '
          'time: the models differ in cost per step (CPU min / run).',
          '',
          f'![learning curves]({os.path.basename(png)})',
          '',
          '## The paper\'s orderings at this budget',
          ''] + claims)
  print(open(args.out).read())
  print(f'wrote {args.out} and {png}')


def options_parser(suite):
  name = suite.__name__.split('.')[-1]
  parser = common.make_parser(
      name, suite.__doc__.split('\n')[0], batch=64,
      out=f'benchmarks/results/{name}.md')
  parser.add_argument('--data', default='../shared/data',
                      help='folder with mnist.npz and cifar10_subset.npz')
  parser.add_argument('--datasets', nargs='+', default=list(suite.DATASETS),
                      choices=list(suite.DATASETS))
  parser.add_argument('--models', nargs='+', default=list(suite.MODELS),
                      choices=list(suite.MODELS))
  parser.add_argument('--steps', type=int, default=None,
                      help='training steps of every run (default: 3000 on '
                           'MNIST, 2000 on CIFAR-10)')
  parser.add_argument('--eval-every', type=int, default=100)
  parser.add_argument('--curve-images', type=int, default=1000)
  suite.add_options(parser)
  parser.add_argument('--lr', type=float, default=1e-3)
  parser.add_argument('--warmup-steps', type=int, default=100)
  parser.add_argument('--clip-norm', type=float, default=None,
                      help='clip each gradient to this norm (off by default)')
  parser.add_argument('--jobs', type=int, default=os.cpu_count(),
                      help='runs trained at once, in separate processes of '
                           '--threads threads each')
  parser.add_argument('--runs', default=f'benchmarks/results/{name}_runs',
                      help='folder of the per-run results (resume point)')
  parser.add_argument('--report-only', action='store_true',
                      help='write the table from the runs done so far, '
                           'training nothing')
  return parser


def add_options(parser):
  parser.add_argument('--depth', type=int, default=4)
  parser.add_argument('--width', type=int, default=64)
  parser.add_argument('--scale', default='tanh',
                      choices=['tanh', 'sigmoid', 'exp'],
                      help='coupling and prior scales (CInCFlow)')
  parser.add_argument('--log-scale-bound', type=float, default=2.,
                      help="c of the 'tanh' scales")
  parser.add_argument('--conf-growth', default='bounded',
                      choices=['bounded', 'power'],
                      help="CONF sub-layers' growth (CInCFlow)")


def parse_options(argv=None, suite='benchmarks.quality'):
  """(parser, args) of a suite's command line; args.suite names the suite."""
  parser = options_parser(importlib.import_module(suite))
  args = parser.parse_args(argv)
  args.suite = suite  # not an option: left out of the command lines
  return parser, args


def main(argv=None, suite='benchmarks.quality'):
  parser, args = parse_options(argv, suite)
  datasets = importlib.import_module(suite).DATASETS
  for name in args.datasets:
    path = os.path.join(args.data, datasets[name]['file'])
    if not os.path.exists(path):
      parser.error(f'{path} not found; pass --data DIR with '
                   f'{datasets[name]["file"]} in it')
  for name in args.datasets:
    if _steps(args, name) % args.eval_every:
      parser.error('--steps must be a multiple of --eval-every')
  report_only = args.report_only
  command = common.command_line(parser, args)  # workers set --threads
  start = time.perf_counter()
  planned = plan(args)
  results = (saved_results(args, planned) if report_only
             else run_all(args, planned))
  report(args, command, results, time.perf_counter() - start, len(planned))


if __name__ == '__main__':
  main()
