"""Mixed precision: bfloat16 conditioners in a FlowModel, float32 weights
that move between the modes, the fallback, and what it refuses."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

import tfp_invconv as ti
from tfp_invconv import precision
from tfp_invconv.model import FlowModel
from tests import helpers


def _flow(**kwargs):
  flow = ti.CInCFlow((8, 8, 1), levels=2, depth=2, hidden_width=16,
                     coupling='affine', **kwargs)
  helpers.perturb_weights(flow, stddev=0.05)
  return flow


@pytest.fixture
def native(monkeypatch):
  """This machine counts as having native bfloat16 (CI machines may not)."""
  monkeypatch.setattr(precision, 'native_bfloat16', lambda: (True, 'test'))


def test_mixed_model_trains_in_bfloat16_on_float32_weights(native):
  pixels = load_digits().images[:64].astype(np.uint8)[..., None]
  model = FlowModel(_flow(), num_levels=17, seed=0, mixed_precision=True)
  assert model.mixed_precision
  nets = precision.conditioners(model.flow)
  assert nets and all(n.compute_dtype == 'bfloat16' for n in nets)
  assert {w.dtype for w in model.weights} == {'float32'}
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  history = model.fit(pixels, batch_size=32, epochs=2, verbose=0)
  assert np.isfinite(history.history['bpd']).all()

  # The weights load unchanged into a float32 model, which scores the
  # images a little differently: the conditioners' rounding is the model's.
  plain = FlowModel(_flow(), num_levels=17, seed=0)
  plain.set_weights(model.get_weights())
  mixed_bpd = model.bits_per_dim(pixels, noise='center').numpy()
  plain_bpd = plain.bits_per_dim(pixels, noise='center').numpy()
  assert not plain.mixed_precision and not np.array_equal(mixed_bpd,
                                                          plain_bpd)
  np.testing.assert_allclose(mixed_bpd, plain_bpd, atol=0.05)


def test_the_mode_survives_keras_saving(native, tmp_path):
  model = FlowModel(_flow(), num_levels=17, mixed_precision=True)
  path = str(tmp_path / 'mixed.keras')
  model.save(path)
  loaded = keras.saving.load_model(path)
  assert loaded.mixed_precision
  pixels = load_digits().images[:4].astype(np.uint8)[..., None]
  np.testing.assert_array_equal(loaded.bits_per_dim(pixels, noise='center'),
                                model.bits_per_dim(pixels, noise='center'))


def test_the_mode_follows_the_conditioners_policy(native):
  model = FlowModel(_flow(), num_levels=17)
  precision.set_conditioner_policy(model.flow, precision.MIXED)
  assert model.mixed_precision and model.get_config()['mixed_precision']
  precision.set_conditioner_policy(model.flow, precision.FLOAT32)
  assert not model.mixed_precision
  assert not model.get_config()['mixed_precision']


def test_without_native_bfloat16_it_warns_and_stays_float32(monkeypatch):
  monkeypatch.setattr(precision, 'native_bfloat16',
                      lambda: (False, 'no AVX512-BF16 here'))
  with pytest.warns(UserWarning, match='mixed precision off: no AVX512-BF16 '
                    'here, so bfloat16 would be emulated'):
    model = FlowModel(_flow(), num_levels=17, mixed_precision=True)
  assert not model.mixed_precision
  assert all(n.compute_dtype == 'float32'
             for n in precision.conditioners(model.flow))


def test_the_cpu_flags_decide_native_bfloat16(monkeypatch, tmp_path):
  cpuinfo = tmp_path / 'cpuinfo'
  real_open = open

  def fake_open(path, *args, **kwargs):
    return real_open(cpuinfo if path == '/proc/cpuinfo' else path, *args,
                     **kwargs)
  monkeypatch.setattr('builtins.open', fake_open)
  monkeypatch.setattr(tf.config, 'list_logical_devices', lambda: [])
  cpuinfo.write_text('flags\t\t: fpu avx2 avx512f\n')
  assert not precision.native_bfloat16()[0]
  cpuinfo.write_text('flags\t\t: fpu avx2 avx512f avx512_bf16\n')
  assert precision.native_bfloat16() == (True, 'CPU with avx512_bf16')


def test_refuses_what_it_cannot_keep_exact(native):
  with pytest.raises(ValueError, match="memory_saving='inverse' do not go "
                     'together'):
    FlowModel(_flow(memory_saving='inverse'), num_levels=17,
              mixed_precision=True)
  with pytest.raises(ValueError, match='runs float32 flows; this one has '
                     'float64 conditioner weights'):
    precision.set_conditioner_policy(_flow(dtype=tf.float64),
                                     precision.MIXED)
