"""Long training runs: held-out bits/dim against steps and CPU hours.

Each dataset's run trains the best model of the quality benchmark
(`benchmarks/results/quality.md`) at a size one CPU core trains for hours,
with the training CLI, into `<runs>/<dataset>/`. The CLI checkpoints every
`--checkpoint-every` steps and after every epoch and resumes from there, so
a run spans as many invocations (and machines) as its budget needs: commit
the run folder and rerun the same command. `--hours` stops an invocation
cleanly (the state is saved) after that much wall time.

Every epoch ends with held-out bits/dim on the whole test split (uniform
dequantization) and the CPU and wall hours spent so far, summed over the
invocations (`history.csv`). The report is a table and a PNG of the curves
against steps and CPU hours, with the target of the pretrained model and a
rough projection of the steps it would take.

  python -m benchmarks.long_runs --data ../shared/data --dataset mnist --hours 2
  python -m benchmarks.long_runs --report-only
"""

import argparse
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np

from training import files, provenance

# Each run's plan: {from step: the options in force from it on}. An
# invocation stops at the next step the plan names and the following one
# starts there with its options, so a fresh run repeats the recorded one.
RUNS = {
    # From step 24,500 the MNIST run clips each gradient's norm at 100: one
    # batch with a finite loss of ~1e5 bits/dim (an image the CONF couplings
    # nearly overflow on) otherwise wrecks the weights (docs/long_runs.md).
    # From step 31,507 it trains at a tenth of the learning rate and keeps
    # a weight average (held-out bits/dim and shipped weights use it).
    'mnist': dict(file='mnist.npz', preset='mnist_conf', target=1.5,
                  anchors='Glow 1.05, RealNVP 1.06',
                  plan={24_500: ['--clip-norm', '100'],
                        31_507: ['--clip-norm', '100', '--lr-drops',
                                 '31507=1e-4', '--ema']},
                  unrecorded='Its reports of the time name an Intel Xeon; '
                  'steps 25,400 to 31,892 ran with --threads 2, the rest '
                  'with one thread.'),
    'cifar10': dict(file='cifar10_subset.npz', preset='cifar10_emerging',
                    target=4.0, anchors='Glow 3.35, RealNVP 3.49 (full CIFAR-10)',
                    unrecorded='Its reports of the time name an Intel Xeon and one thread.'),
    # The same models' successors on the bounded defaults (soft-clamped
    # scales, CONF sub-layers of linear growth), with a weight average from
    # the first step and no gradient clipping.
    # From step 23,067 the MNIST run's base is Student's t (df = 10): under
    # the normal base two test digits with ink in the leftmost columns cost
    # 3.5e10 and 1.2e4 bits/dim from step 20,636 on and decided the mean
    # (benchmarks/results/heavy_tails_mnist_bounded_step22512.md).
    'mnist_bounded': dict(file='mnist.npz', preset='mnist_conf_wide',
                          target=1.5, anchors='Glow 1.05, RealNVP 1.06',
                          plan={0: ['--ema'],
                                23_067: ['--ema', '--base-df', '10']},
                          unrecorded='Its reports of the time name an Intel Xeon and one thread.'),
    'cifar10_bounded': dict(file='cifar10_subset.npz',
                            preset='cifar10_emerging', target=3.8,
                            anchors='Glow 3.35, RealNVP 3.49 (full CIFAR-10)',
                            plan={0: ['--ema']},
                            unrecorded='Its reports of the time name an Intel Xeon and one thread.'),
}
RUNS_DIR = os.path.join('benchmarks', 'results', 'long_runs')
REPORT = os.path.join('benchmarks', 'results', 'long_runs.md')


def segment(dataset, step, last_step):
  """(options in force at `step`, the step this segment ends at)."""
  plan = RUNS[dataset].get('plan', {})
  started = [s for s in plan if s <= step]
  options = plan[max(started)] if started else []
  ends = [s for s in plan if s > step] + [last_step]
  return options, min(ends)


def train_command(args, dataset, step):
  """The training CLI's command for the segment of the plan at `step`."""
  spec = RUNS[dataset]
  options, end = segment(dataset, step, args.steps)
  return [sys.executable, '-m', 'training', 'train', '--preset',
          spec['preset'], '--dataset', os.path.join(args.data, spec['file']),
          '--steps', str(end), '--threads', str(args.threads),
          '--checkpoint-every', str(args.checkpoint_every), '--log-every',
          str(args.checkpoint_every), '--out', os.path.join(args.runs,
                                                            dataset)
          ] + options


def checkpoint_step(run_dir):
  """The step of the run's latest checkpoint (0 when there is none)."""
  index = os.path.join(run_dir, 'checkpoints', 'checkpoint')
  if not os.path.exists(index):
    return 0
  with open(index) as f:
    latest = f.readline().split('"')[1]
  return int(latest.rsplit('-', 1)[1])


def train(args, dataset):
  """Runs (or resumes) the training CLI, one invocation per segment of the
  run's plan; after `--hours` in all, interrupts it the way Ctrl-C does,
  which saves the state."""
  deadline = time.monotonic() + args.hours * 3600 if args.hours else None
  while True:
    step = checkpoint_step(os.path.join(args.runs, dataset))
    if step >= args.steps:
      return 0
    process = subprocess.Popen(train_command(args, dataset, step))
    try:
      code = process.wait(
          timeout=max(deadline - time.monotonic(), 0) if deadline else None)
    except subprocess.TimeoutExpired:
      process.send_signal(signal.SIGINT)
      return process.wait()
    if code:
      return code


def read_curve(run_dir):
  from training import callbacks
  history = callbacks.read_history(os.path.join(run_dir, 'history.csv'))
  if 'val_bpd' not in history:
    return None
  return {k: history[k] for k in ('epoch', 'step', 'bpd', 'val_bpd',
                                  'cpu_hours', 'wall_hours')
          if len(history.get(k, [])) == len(history['val_bpd'])}


def projected_steps(curve, target):
  """Steps at which a straight line through test bits/dim against log10
  (steps), fitted to the last half of the epochs, reaches `target`; None
  when it does not fall, has too few points or a non-finite one."""
  steps, bpd = np.array(curve['step']), np.array(curve['val_bpd'])
  half = len(steps) // 2
  if len(steps) - half < 3 or not np.isfinite(bpd[half:]).all():
    return None
  slope, intercept = np.polyfit(np.log10(steps[half:]), bpd[half:], 1)
  if slope >= 0:
    return None
  return 10 ** ((target - intercept) / slope)


def report(args):
  curves = {name: read_curve(os.path.join(args.runs, name)) for name in RUNS}
  curves = {name: c for name, c in curves.items() if c}
  lines = ['# Long training runs', '',
           'Held-out bits/dim (the whole test split, uniform dequantization) '
           'after every epoch, against steps and compute summed over every '
           'resumed invocation.', '']
  for name, curve in curves.items():
    spec = RUNS[name]
    command = ' '.join(['python -m benchmarks.long_runs', '--data DATA',
                        f'--dataset {name}', f'--steps {args.steps}',
                        f'--threads {args.threads}'])
    best = min(curve['val_bpd'])
    lines += [f'## {name}: preset `{spec["preset"]}` '
              '(training/presets.py)', '', f'Command: `{command}`', '']
    lines += _provenance(spec, os.path.join(args.runs, name)) + [
              '| epoch | step | CPU hours | wall hours | train bits/dim | '
              'test bits/dim |', '|---|---|---|---|---|---|']
    for i in range(len(curve['step'])):
      lines.append('| ' + ' | '.join([
          f'{curve["epoch"][i]:.0f}', f'{curve["step"][i]:.0f}',
          _hours(curve, 'cpu_hours', i), _hours(curve, 'wall_hours', i),
          f'{curve["bpd"][i]:.4f}', f'{curve["val_bpd"][i]:.4f}']) + ' |')
    lines += ['', f'Best test bits/dim: {best:.4f}; the target of the '
              f'pretrained model is {spec["target"]} (published: '
              f'{spec["anchors"]}). ' + _verdict(curve, spec['target']), '']
  lines += ['![curves](long_runs.png)', '']
  with files.atomic_file(args.report) as f:
    f.write('\n'.join(lines))
  if curves:
    _plot(curves, os.path.splitext(args.report)[0] + '.png')
  print(f'report: {args.report}')


def _provenance(spec, run_dir):
  """The plan, the machine and every recorded invocation of one run."""
  plan = '; '.join(f'from step {step:,}: `{" ".join(options)}`'
                   for step, options in sorted(spec.get('plan', {}).items()))
  lines = [f'Plan: {plan or "the preset as it is"}.', '']
  invocations = provenance.read(run_dir)
  if not invocations:
    return lines + ['Machine: not recorded (trained before runs recorded '
                    'their invocations).', '',
                    *([spec['unrecorded'], ''] if 'unrecorded' in spec
                      else [])]
  lines += [f'Machine: {invocations[-1]["machine"]}', '',
            '| from step | to step | started | threads | machine | code | '
            'CPU hours |', '|---|---|---|---|---|---|---|']
  lines += [f'| {i["from_step"]:,} | {_recorded(i, "to_step", ",")} | '
            f'{i["started"]} | {i["threads"]} | '
            f'{i["machine"].split(",")[0]} | {i["code"]} | '
            f'{_recorded(i, "cpu_hours", ".2f")} |' for i in invocations]
  spent = [i['cpu_hours'] for i in invocations if 'cpu_hours' in i]
  lines += ['', f'CPU hours of the recorded invocations: {sum(spent):.2f} '
            '(work a resume discarded included; an invocation killed '
            'outright records none).']
  first = invocations[0]['from_step']
  if first:
    lines += [f'Steps 0 to {first:,}: not recorded (trained before runs '
              'recorded their invocations). ' + spec.get('unrecorded', '')]
  return lines + ['']


def _recorded(invocation, key, spec):
  return format(invocation[key], spec) if key in invocation else '-'



def _hours(curve, key, i):
  return f'{curve[key][i]:.2f}' if key in curve else '-'


def _verdict(curve, target):
  if min(curve['val_bpd']) <= target:
    return 'Met.'
  steps = projected_steps(curve, target)
  if steps is None:
    return ('Not met; too few epochs, a curve too flat or rising, or a '
            'non-finite test bits/dim in its last half: no projection.')
  per_step = (curve['cpu_hours'][-1] / curve['step'][-1]
              if 'cpu_hours' in curve else math.nan)
  return (f'Not met yet. A line through the last half of the curve against '
          f'log10(steps) reaches it at about {steps:,.0f} steps '
          f'(~{steps * per_step:,.0f} CPU hours at this pace); curves '
          'flatten, so read it as a lower bound.')


def _plot(curves, path):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for name, curve in curves.items():
    line, = axes[0].plot(curve['step'], curve['val_bpd'], label=f'{name} test')
    axes[0].plot(curve['step'], curve['bpd'], '--', color=line.get_color(),
                 alpha=0.5, label=f'{name} train')
    if 'cpu_hours' in curve:
      axes[1].plot(curve['cpu_hours'], curve['val_bpd'], label=name)
    for ax in axes:
      ax.axhline(RUNS[name]['target'], color=line.get_color(), ls=':',
                 lw=1)
  axes[0].set(xscale='log', xlabel='training steps', ylabel='bits/dim',
              title='held-out bits/dim (dotted: target)')
  axes[1].set(xlabel='CPU hours', ylabel='test bits/dim',
              title='against compute')
  for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def main(argv=None):
  parser = argparse.ArgumentParser(prog='benchmarks.long_runs',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--data', help='folder with mnist.npz and '
                      'cifar10_subset.npz')
  parser.add_argument('--dataset', nargs='+', default=['mnist'],
                      choices=sorted(RUNS))
  parser.add_argument('--steps', type=int, default=200_000,
                      help='where each run stops for good')
  parser.add_argument('--hours', type=float, default=None,
                      help='wall hours of this invocation per dataset')
  parser.add_argument('--threads', type=int, default=1)
  parser.add_argument('--checkpoint-every', type=int, default=500)
  parser.add_argument('--runs', default=RUNS_DIR)
  parser.add_argument('--report', default=REPORT)
  parser.add_argument('--report-only', action='store_true')
  args = parser.parse_args(argv)
  if not args.report_only:
    if not args.data:
      parser.error('--data is needed to train')
    for dataset in args.dataset:
      code = train(args, dataset)
      if code not in (0, 130):
        sys.exit(code)
  report(args)


if __name__ == '__main__':
  main()
