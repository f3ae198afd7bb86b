"""Keras callbacks of the training application."""

import csv
import math
import os

import keras
import tensorflow as tf

from training import artifacts


class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """Linear warm-up from 0 to `learning_rate` over `warmup_steps` steps."""

  def __init__(self, learning_rate, warmup_steps):
    self.learning_rate = learning_rate
    self.warmup_steps = warmup_steps

  def __call__(self, step):
    fraction = keras.ops.minimum(
        1., (keras.ops.cast(step, 'float32') + 1.) / max(self.warmup_steps, 1))
    return self.learning_rate * fraction

  def get_config(self):
    return {'learning_rate': self.learning_rate,
            'warmup_steps': self.warmup_steps}


class TrainingState:
  """Model weights + optimizer state (its step counter included) on disk."""

  def __init__(self, model, directory, max_to_keep=2):
    model.optimizer.build(model.trainable_variables)
    self.model = model
    self.checkpoint = tf.train.Checkpoint(model=model,
                                          optimizer=model.optimizer)
    self.manager = tf.train.CheckpointManager(self.checkpoint, directory,
                                              max_to_keep=max_to_keep)

  @property
  def step(self):
    return int(self.model.optimizer.iterations.numpy())

  def restore(self):
    """Restores the latest checkpoint, if any; returns the step reached."""
    if self.manager.latest_checkpoint:
      self.checkpoint.restore(
          self.manager.latest_checkpoint).assert_existing_objects_matched()
    return self.step

  def save(self):
    return self.manager.save(checkpoint_number=self.step)


class StepCheckpoint(keras.callbacks.Callback):
  """Saves the training state every `every` steps and after each epoch,
  unless the loss has gone NaN/Inf (the last good state is kept)."""

  def __init__(self, state, every=None):
    super().__init__()
    self.state = state
    self.every = every

  def _save_if_finite(self, logs):
    if logs and not math.isfinite(float(logs.get('bpd', 0.))):
      return
    self.state.save()

  def on_train_batch_end(self, batch, logs=None):
    if self.every and self.state.step % self.every == 0:
      self._save_if_finite(logs)

  def on_epoch_end(self, epoch, logs=None):
    self._save_if_finite(logs)


class TerminateOnNaN(keras.callbacks.Callback):
  """Stops training as soon as the running bits/dim is NaN or Inf."""

  def on_train_batch_end(self, batch, logs=None):
    value = (logs or {}).get('bpd')
    if value is not None and not math.isfinite(float(value)):
      print(f'\nbatch {batch}: bits/dim is {value}; stopping.')
      self.model.stop_training = True


def fit_plan(step, steps_per_epoch, epochs):
  """(initial_epoch, epochs, steps_per_epoch) of the `fit` calls that finish
  a run at `step`: first the rest of an interrupted epoch, then whole ones."""
  epoch, done = divmod(step, steps_per_epoch)
  plan = []
  if done and epoch < epochs:
    plan.append((epoch, epoch + 1, steps_per_epoch - done))
    epoch += 1
  if epoch < epochs:
    plan.append((epoch, epochs, steps_per_epoch))
  return plan


class Progress(keras.callbacks.Callback):
  """Writes the sample grid and the bits/dim curve after every epoch."""

  def __init__(self, out, num_levels, temperature=0.7, num_samples=32):
    super().__init__()
    self.out = out
    self.num_levels = num_levels
    self.temperature = temperature
    self.num_samples = num_samples

  def on_epoch_end(self, epoch, logs=None):
    samples = self.model.to_pixels(
        self.model.sample(self.num_samples, self.temperature, seed=0))
    artifacts.save_grid(
        os.path.join(self.out, 'samples.png'), samples, self.num_levels,
        rows=4, title=f'epoch {epoch + 1}, T = {self.temperature}')
    artifacts.save_curve(os.path.join(self.out, 'bpd.png'),
                         read_history(os.path.join(self.out, 'history.csv')))


def read_history(path):
  """history.csv (written by keras.callbacks.CSVLogger) as lists per key."""
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    rows = list(csv.DictReader(f))
  return {key: [float(r[key]) for r in rows if r.get(key)]
          for key in (rows[0].keys() if rows else ())}
