"""Resuming: the optimizer state and the fit plan after an interruption."""

import argparse

import numpy as np
import keras
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

import tfp_invconv as ti
from tfp_invconv.model import FlowModel
from training import callbacks
from training.__main__ import _lr_drop


def _compiled_model():
  model = FlowModel(ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8),
                    num_levels=17)
  model.compile(optimizer=keras.optimizers.Adamax(1e-3))
  return model


def test_training_state_restores_weights_and_optimizer_exactly(tmp_path):
  pixels = load_digits().images[:64].astype(np.uint8)[..., None]
  model = _compiled_model()
  state = callbacks.TrainingState(model, str(tmp_path))
  model.fit(tf.data.Dataset.from_tensor_slices(pixels).batch(16), epochs=1,
            verbose=0)
  state.save()

  restored = _compiled_model()
  assert callbacks.TrainingState(restored, str(tmp_path)).restore() == 4
  for a, b in zip(model.optimizer.variables, restored.optimizer.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  for a, b in zip(model.weights, restored.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert restored.initialized


def test_fit_plan_finishes_the_interrupted_epoch_first():
  assert callbacks.fit_plan(0, 6, 18) == [(0, 3, 6)]
  assert callbacks.fit_plan(8, 6, 18) == [(1, 2, 4), (2, 3, 6)]
  assert callbacks.fit_plan(12, 6, 18) == [(2, 3, 6)]
  assert callbacks.fit_plan(16, 6, 18) == [(2, 3, 2)]
  assert callbacks.fit_plan(18, 6, 18) == []


def test_step_checkpoint_keeps_the_last_good_state_on_nan(tmp_path):
  model = _compiled_model()
  state = callbacks.TrainingState(model, str(tmp_path))
  checkpoint = callbacks.StepCheckpoint(state, every=1)
  checkpoint.on_train_batch_end(0, {'bpd': 3.0})
  good = state.manager.latest_checkpoint
  model.optimizer.iterations.assign(1)
  checkpoint.on_train_batch_end(1, {'bpd': float('nan')})
  checkpoint.on_epoch_end(0, {'bpd': float('inf')})
  assert state.manager.latest_checkpoint == good


def test_step_checkpoint_skips_the_epoch_end_of_a_stopped_run(tmp_path):
  model = _compiled_model()
  state = callbacks.TrainingState(model, str(tmp_path))
  checkpoint = callbacks.StepCheckpoint(state)
  checkpoint.set_model(model)
  checkpoint.on_epoch_end(0, {'bpd': 3.0})
  good = state.manager.latest_checkpoint
  model.optimizer.iterations.assign(1)
  model.stop_training = True  # e.g. too many skipped steps in a row
  checkpoint.on_epoch_end(1, {'bpd': 2.5e8})
  assert state.manager.latest_checkpoint == good


def test_terminate_on_nan_watches_bits_per_dim():
  model = _compiled_model()
  stop = callbacks.TerminateOnNaN()
  stop.set_model(model)
  stop.on_train_batch_end(0, {'bpd': 3.0})
  assert not model.stop_training
  stop.on_train_batch_end(1, {'bpd': float('nan')})
  assert model.stop_training


def test_terminate_on_nan_stops_after_skipped_steps_in_a_row():
  model = _compiled_model()
  stop = callbacks.TerminateOnNaN(patience=3)
  stop.set_model(model)
  stop.on_epoch_begin(0)
  for batch, skipped in enumerate([1., 2., 2., 3., 4., 5.]):
    stop.on_train_batch_end(batch, {'bpd': 3.0, 'skipped_steps': skipped})
    assert model.stop_training == (batch == 5), batch


def test_fit_plan_trains_exactly_the_steps_asked_for():
  plan = callbacks.fit_plan(0, 25, 300)  # 12 whole epochs
  assert plan == [(0, 12, 25)]
  plan = callbacks.fit_plan(0, 26, 300)  # 11 epochs of 26, then 14 steps
  assert plan == [(0, 11, 26), (11, 12, 14)]
  assert sum((last - first) * steps for first, last, steps in plan) == 300
  assert callbacks.fit_plan(290, 26, 300) == [(11, 12, 10)]
  assert callbacks.fit_plan(300, 26, 300) == []


def _pixels():
  return load_digits().images[:64].astype(np.uint8)[..., None]


def _train_twice(average):
  keras.utils.set_random_seed(0)
  model = _compiled_model()
  extra = [callbacks.WeightAverage(model, decay=0.5)] if average else []
  data = tf.data.Dataset.from_tensor_slices(_pixels()).batch(16)
  for _ in range(2):  # a resumed plan: two fit calls
    model.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=extra)
  return model, extra


def test_weight_average_never_changes_the_trained_weights(tmp_path):
  plain, _ = _train_twice(average=False)
  averaged, (average,) = _train_twice(average=True)
  for a, b in zip(plain.trainable_weights, averaged.trainable_weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert any(not np.array_equal(w.numpy(), a.numpy())
             for w, a in zip(averaged.trainable_weights, average.average))

  path = str(tmp_path / 'best.weights.h5')
  best = callbacks.BestWeights(path, average=average)
  best.set_model(averaged)
  best.on_epoch_end(0, {'bpd': 3.0})
  restored = _compiled_model()
  restored.load_weights(path)
  for w, a in zip(restored.trainable_weights, average.average):
    np.testing.assert_array_equal(w.numpy(), a.numpy())


def test_a_run_resumed_with_a_weight_average_starts_it_from_the_checkpoint(
    tmp_path):
  model = _compiled_model()
  model.fit(tf.data.Dataset.from_tensor_slices(_pixels()).batch(16), epochs=1,
            verbose=0)
  callbacks.TrainingState(model, str(tmp_path)).save()

  resumed = _compiled_model()
  average = callbacks.WeightAverage(resumed)
  assert callbacks.TrainingState(resumed, str(tmp_path),
                                 average=average).restore() == 4
  for w, a, trained in zip(resumed.trainable_weights, average.average,
                           model.trainable_weights):
    np.testing.assert_array_equal(w.numpy(), trained.numpy())
    np.testing.assert_array_equal(a.numpy(), trained.numpy())


def test_held_out_bits_per_dim_is_that_of_the_averaged_weights():
  keras.utils.set_random_seed(0)
  model = FlowModel(ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8),
                    num_levels=17, noise='center')  # evaluations comparable
  model.compile(optimizer=keras.optimizers.Adamax(1e-3))
  average = callbacks.WeightAverage(model, decay=0.5)
  data = tf.data.Dataset.from_tensor_slices(_pixels()).batch(16)
  history = model.fit(data, epochs=1, verbose=0, shuffle=False,
                      validation_data=data, callbacks=[average])
  raw = [w.numpy() for w in model.trainable_weights]
  raw_bpd = model.evaluate(data, verbose=0, return_dict=True)['bpd']
  with average.swapped():
    averaged_bpd = model.evaluate(data, verbose=0, return_dict=True)['bpd']
  assert abs(averaged_bpd - raw_bpd) > 1e-4
  np.testing.assert_allclose(history.history['val_bpd'][0], averaged_bpd,
                             rtol=1e-6)
  for w, value in zip(model.trainable_weights, raw):
    np.testing.assert_array_equal(w.numpy(), value)


def test_learning_rate_drops_from_the_given_steps_on():
  schedule = callbacks.WarmupSchedule(1e-3, 10, drops=[(100, 1e-4),
                                                       (50, 3e-4)])
  rates = [float(schedule(step)) for step in (0, 9, 49, 50, 99, 100, 10 ** 6)]
  np.testing.assert_allclose(rates, [1e-4, 1e-3, 1e-3, 3e-4, 3e-4, 1e-4, 1e-4],
                             rtol=1e-6)


def test_a_learning_rate_drop_is_step_equals_rate():
  assert _lr_drop('30000=1e-4') == [30000, 1e-4]
  for bad in ('30000', '1e-4=30000', '-1=1e-4', '10=0'):
    with pytest.raises(argparse.ArgumentTypeError):
      _lr_drop(bad)
