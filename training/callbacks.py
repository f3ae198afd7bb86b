"""Keras callbacks of the training application."""

import csv
import os

import keras

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
