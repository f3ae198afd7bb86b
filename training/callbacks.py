"""Keras callbacks of the training application."""

import contextlib
import csv
import json
import math
import os
import time

import keras
import tensorflow as tf

from training import artifacts
from training import files


class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """Linear warm-up from 0 to `learning_rate` over `warmup_steps` steps,
  then constant, but for `drops`: (step, rate) pairs, each setting the rate
  from its step on."""

  def __init__(self, learning_rate, warmup_steps, drops=()):
    self.learning_rate = learning_rate
    self.warmup_steps = warmup_steps
    self.drops = sorted((int(step), float(rate)) for step, rate in drops)

  def __call__(self, step):
    step = keras.ops.cast(step, 'float32')
    fraction = keras.ops.minimum(1., (step + 1.) / max(self.warmup_steps, 1))
    rate = self.learning_rate * fraction
    for start, dropped in self.drops:
      rate = keras.ops.where(step >= start, dropped, rate)
    return rate

  def get_config(self):
    return {'learning_rate': self.learning_rate,
            'warmup_steps': self.warmup_steps, 'drops': self.drops}


class WeightAverage(keras.callbacks.Callback):
  """A Polyak (exponential moving) average of the trainable weights.

  Kept here rather than with Keras' `use_ema`, which writes the average over
  the weights when each `fit` call ends: a run of several `fit` calls would
  train on from the average, and the epoch-end checkpoints would hold the
  raw weights only. Here the raw weights are what trains and resumes, the
  average is saved beside them, and `swapped()` puts it in place for the
  held-out evaluation, the saved best weights and the sample grids.
  """

  def __init__(self, model, decay=0.999):
    super().__init__()
    self.decay = decay
    self.weights = model.trainable_weights
    self.average = [tf.Variable(w.value, trainable=False)
                    for w in self.weights]
    self._update = tf.function(self._update_average)

  def _update_average(self):
    for average, weight in zip(self.average, self.weights):
      average.assign(self.decay * average + (1. - self.decay) * weight.value)

  def restart(self):
    """Starts the average over from the current weights."""
    for average, weight in zip(self.average, self.weights):
      average.assign(weight.value)

  def on_train_begin(self, logs=None):
    if int(self.model.optimizer.iterations.numpy()) == 0:
      self.restart()  # from the weights after the ActNorms' data-dependent init

  def on_train_batch_end(self, batch, logs=None):
    self._update()

  def on_test_begin(self, logs=None):
    # Held-out bits/dim is that of the averaged weights, the ones saved.
    self._swap = self.swapped()
    self._swap.__enter__()

  def on_test_end(self, logs=None):
    self._swap.__exit__(None, None, None)

  @contextlib.contextmanager
  def swapped(self):
    """Inside the block the model holds the averaged weights."""
    raw = [w.numpy() for w in self.weights]
    for weight, average in zip(self.weights, self.average):
      weight.assign(average)
    try:
      yield
    finally:
      for weight, value in zip(self.weights, raw):
        weight.assign(value)


class TrainingState:
  """On disk: model weights + optimizer state (its step counter included),
  the weight average if any, the state of the model's random streams and
  the epoch's running metric sums (so that a resumed run draws the same
  noise and its epoch means cover all the epoch's steps, `ResumedEpochMeans`);
  and, in compute.json, the compute spent to reach them (CPU and wall
  seconds, summed over every resumed process).

  A checkpoint written before a part existed (the average turned on mid-run,
  or the random states and metric sums of older versions) restores without
  it; the part then starts afresh."""

  COMPUTE = 'compute.json'

  def __init__(self, model, directory, max_to_keep=2, average=None,
               restore_from=None):
    """`restore_from`: the folder whose checkpoints `restore` reads, if
    not `directory` (a worker that saves to scratch restores the chief's)."""
    model.optimizer.build(model.trainable_variables)
    self.model = model
    self.average = average
    self._parts = dict(
        model=model, optimizer=model.optimizer,
        random_states=model.random_states,
        epoch_metrics=[v.value for m in model.metrics for v in m.variables],
        **({'average': average.average} if average else {}))
    self.checkpoint = tf.train.Checkpoint(**self._parts)
    self.manager = tf.train.CheckpointManager(self.checkpoint, directory,
                                              max_to_keep=max_to_keep)
    self._restore_from = restore_from or directory
    self._compute_path = os.path.join(directory, self.COMPUTE)
    self._spent = {'cpu_seconds': 0., 'wall_seconds': 0.}
    self._clock = (time.process_time(), time.perf_counter())
    self.restored_metrics = None  # the epoch_metrics' restored values

  @property
  def step(self):
    return int(self.model.optimizer.iterations.numpy())

  @property
  def compute(self):
    """{'cpu_seconds', 'wall_seconds'} spent to reach the current step."""
    return {'cpu_seconds': self._spent['cpu_seconds'] + time.process_time()
                           - self._clock[0],
            'wall_seconds': self._spent['wall_seconds'] + time.perf_counter()
                            - self._clock[1]}

  def restore(self):
    """Restores the latest checkpoint, if any; returns the step reached."""
    latest = tf.train.latest_checkpoint(self._restore_from)
    if latest:
      held = {name.split('/')[0] for name, _ in tf.train.list_variables(latest)}
      parts = {k: v for k, v in self._parts.items()
               if k in held or k in ('model', 'optimizer')}
      tf.train.Checkpoint(**parts).restore(
          latest).assert_existing_objects_matched()
      if self.average and 'average' not in parts:
        self.average.restart()
      if 'epoch_metrics' in parts:
        self.restored_metrics = [v.numpy() for v in parts['epoch_metrics']]
      self._spent.update(self._read_compute(self._restore_from).get(
          str(self.step), {}))
    return self.step

  def save(self):
    compute = self._read_compute()
    compute[str(self.step)] = self.compute
    files.write_json(self._compute_path, compute, indent=None)
    return self.manager.save(checkpoint_number=self.step)

  def _read_compute(self, directory=None):
    path = (os.path.join(directory, self.COMPUTE) if directory
            else self._compute_path)
    if not os.path.exists(path):
      return {}
    with open(path) as f:
      return json.load(f)


class ResumedEpochMeans(keras.callbacks.Callback):
  """Puts back, at the start of the epoch a run resumes in the middle of,
  the running metric sums its checkpoint saved (Keras resets them at every
  epoch's start): the epoch's bits/dim and skipped-step count then cover
  the steps before the interruption too, as in an uninterrupted run."""

  def __init__(self, state, mid_epoch):
    super().__init__()
    self.saved = state.restored_metrics if mid_epoch else None

  def on_epoch_begin(self, epoch, logs=None):
    if self.saved is not None:
      variables = [v for m in self.model.metrics for v in m.variables]
      for variable, value in zip(variables, self.saved):
        variable.assign(value)
    self.saved = None


class StepCheckpoint(keras.callbacks.Callback):
  """Saves the training state every `every` steps and after each epoch,
  unless the loss has gone NaN/Inf or a callback stopped training (the last
  good state is kept)."""

  def __init__(self, state, every=None):
    super().__init__()
    self.state = state
    self.every = every

  def _save_if_finite(self, logs):
    if logs and not math.isfinite(float(logs.get('bpd', 0.))):
      return
    if self.model is not None and self.model.stop_training:
      return
    self.state.save()

  def on_train_batch_end(self, batch, logs=None):
    if self.every and self.state.step % self.every == 0:
      self._save_if_finite(logs)

  def on_epoch_end(self, epoch, logs=None):
    self._save_if_finite(logs)


class TerminateOnNaN(keras.callbacks.Callback):
  """Stops training when the running bits/dim is NaN or Inf, or when
  `patience` steps in a row were skipped for a NaN or Inf loss or gradient
  (`FlowModel` skips such a step rather than write NaN into the weights)."""

  def __init__(self, patience=20):
    super().__init__()
    self.patience = patience
    self._skipped = self._in_a_row = 0

  def on_epoch_begin(self, epoch, logs=None):
    self._skipped = 0  # Keras resets the count every epoch

  def on_train_batch_end(self, batch, logs=None):
    logs = logs or {}
    value = logs.get('bpd')
    if value is not None and not math.isfinite(float(value)):
      print(f'\nbatch {batch}: bits/dim is {value}; stopping.')
      self.model.stop_training = True
    skipped = float(logs.get('skipped_steps', 0.))
    self._in_a_row = self._in_a_row + 1 if skipped > self._skipped else 0
    self._skipped = skipped
    if self._in_a_row >= self.patience:
      print(f'\nbatch {batch}: {self._in_a_row} steps in a row had a NaN or '
            'Inf loss or gradient and were skipped; stopping.')
      self.model.stop_training = True


def fit_plan(step, steps_per_epoch, total_steps):
  """(initial_epoch, epochs, steps_per_epoch) of the `fit` calls that take a
  run from `step` to exactly `total_steps`: first the rest of an interrupted
  epoch, then whole epochs, then a last, shorter one if needed."""
  plan = []
  while step < total_steps:
    epoch, done = divmod(step, steps_per_epoch)
    if done or total_steps - step < steps_per_epoch:
      steps = min(steps_per_epoch - done, total_steps - step)
      plan.append((epoch, epoch + 1, steps))
    else:
      whole = (total_steps - step) // steps_per_epoch
      plan.append((epoch, epoch + whole, steps_per_epoch))
      steps = whole * steps_per_epoch
    step += steps
  return plan


class StepLog(keras.callbacks.Callback):
  """One line every `every` steps: step, running bits/dim, rate and ETA
  (Keras' own progress bar counts epochs per `fit` call, not the run). The
  rate is timed from the end of the process's first step, so that tracing
  and compiling it do not stretch the ETA of a run just resumed."""

  def __init__(self, state, total_steps, every=50):
    super().__init__()
    self.state = state
    self.total_steps = total_steps
    self.every = every
    self._start = None

  def on_train_batch_end(self, batch, logs=None):
    step = self.state.step
    if self._start is None:
      self._start = (time.perf_counter(), step)
    if step % self.every and step != self.total_steps:
      return
    seconds, first = time.perf_counter() - self._start[0], self._start[1]
    rate = (step - first) / seconds if step > first and seconds else math.nan
    eta = (self.total_steps - step) / rate if rate > 0 else math.inf
    skipped = float((logs or {}).get('skipped_steps', 0.))
    print(f'step {step}/{self.total_steps}  bits/dim '
          f'{float((logs or {}).get("bpd", math.nan)):.4f}  '
          f'{_rate(rate)} steps/s  ETA {_duration(eta)}'
          + (f'  ({skipped:.0f} steps skipped this epoch: NaN or Inf)'
             if skipped else ''), flush=True)

  def on_epoch_end(self, epoch, logs=None):
    if logs and 'val_bpd' in logs:
      print(f'step {self.state.step}: held-out bits/dim '
            f'{float(logs["val_bpd"]):.4f}', flush=True)


def _rate(steps_per_second):
  return f'{steps_per_second:.2f}' if math.isfinite(steps_per_second) else '?'


def _duration(seconds):
  if not math.isfinite(seconds):
    return '?'
  minutes, seconds = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}h{minutes:02d}m' if hours else f'{minutes}m{seconds:02d}s'


class BestWeights(keras.callbacks.Callback):
  """Saves the weights (the average, with a `WeightAverage`) whenever the
  epoch's training bits/dim is the lowest so far."""

  def __init__(self, path, best=math.inf, average=None):
    super().__init__()
    self.path = path
    self.best = best
    self.average = average

  def on_epoch_end(self, epoch, logs=None):
    value = float((logs or {}).get('bpd', math.nan))
    if not value < self.best:
      return
    self.best = value
    # Written aside and moved over: a reader (or a kill) mid-save sees the
    # old weights or the new ones, never a part.
    staging = self.path[:-len('.weights.h5')] + '.staging.weights.h5'
    with self.average.swapped() if self.average else contextlib.nullcontext():
      self.model.save_weights(staging)
    os.replace(staging, self.path)


class Progress(keras.callbacks.Callback):
  """Writes the sample grid and the bits/dim curve after every epoch."""

  def __init__(self, out, num_levels, temperature=0.7, num_samples=32,
               average=None):
    super().__init__()
    self.out = out
    self.num_levels = num_levels
    self.temperature = temperature
    self.num_samples = num_samples
    self.average = average

  def on_epoch_end(self, epoch, logs=None):
    with self.average.swapped() if self.average else contextlib.nullcontext():
      samples, finite = self.model.to_pixels(
          self.model.sample(self.num_samples, self.temperature, seed=0))
    artifacts.save_grid(os.path.join(self.out, 'samples.png'), samples,
                        self.num_levels, rows=4, finite=finite.numpy(),
                        title=f'epoch {epoch + 1}, T = {self.temperature}')
    artifacts.save_curve(os.path.join(self.out, 'bpd.png'),
                         read_history(os.path.join(self.out, 'history.csv')))


def read_history_rows(path):
  """history.csv as a list of {column: text} rows."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return list(csv.DictReader(f))


def best_weights_row(run):
  """The history row of the weights `BestWeights` saved in `run`: the epoch
  of lowest training bits/dim."""
  rows = read_history_rows(os.path.join(run, 'history.csv'))
  if not rows:
    raise FileNotFoundError(f'{run} has no history.csv rows')
  return min(rows, key=lambda row: _nan_last(float(row['bpd'])))


def _nan_last(value):
  return math.inf if math.isnan(value) else value


def write_history_rows(path, rows):
  """Replaces history.csv atomically (a kill leaves the old or new file)."""
  columns = []
  for row in rows:
    columns += [k for k in row if k not in columns]
  with files.atomic_file(path, newline='') as f:
    writer = csv.DictWriter(f, columns)
    writer.writeheader()
    writer.writerows(rows)


def truncate_history(path, step):
  """Drops the rows logged after `step`: those of an epoch whose checkpoint
  was never written, which the resumed run trains and logs again."""
  rows = read_history_rows(path)
  kept = [r for r in rows if int(float(r.get('step') or 0)) <= step]
  if len(kept) != len(rows):
    write_history_rows(path, kept)


def read_history(path):
  """history.csv as lists of floats per column."""
  rows = read_history_rows(path)
  return {key: [float(r[key]) for r in rows if r.get(key)]
          for key in (rows[0].keys() if rows else ())}


class HistoryLog(keras.callbacks.Callback):
  """Adds a row per epoch (epoch, step reached, metrics) to history.csv.

  Listed before the checkpoint callback, so an epoch's row is on disk before
  its checkpoint; `truncate_history` at resume drops a row whose checkpoint
  a kill prevented. History and checkpoint therefore always agree.
  """

  def __init__(self, path, state):
    super().__init__()
    self.path = path
    self.state = state

  def on_epoch_end(self, epoch, logs=None):
    row = {'epoch': epoch, 'step': self.state.step}
    row.update({k: float(v) for k, v in (logs or {}).items()})
    row.update({k.replace('seconds', 'hours'): v / 3600.
                for k, v in self.state.compute.items()})
    write_history_rows(self.path, read_history_rows(self.path) + [row])
