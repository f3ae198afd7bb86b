"""Conditional (amortised) flows: a context reaches every conditioner."""

import numpy as np
import pytest
import tensorflow as tf

import tfp_invconv as ti
from tfp_invconv import bijectors as tfib
from tfp_invconv.bijectors import coupling as coupling_lib
from tests import helpers

FEATURES, CONTEXT = 6, 5


def _context(seed=0, batch=2, dtype=np.float64):
  return tf.constant(np.random.default_rng(seed).normal(
      size=(batch, CONTEXT)).astype(dtype))


def _perturbed(bijector, x, context):
  bijector.forward(helpers.fresh(x), context=context)  # builds the nets
  helpers.perturb_weights(bijector)
  return bijector


CASES = {
    'CONFCoupling-1d': lambda d: tfib.CONFCoupling(
        FEATURES, hidden_width=8, event_rank=1, context_features=CONTEXT,
        dtype=d),
    'SymmetricConvVectorFlow': lambda d: ti.SymmetricConvVectorFlow(
        FEATURES, depth=3, hidden_width=8, context_features=CONTEXT, dtype=d),
    'SymmetricConvVectorFlow-lu-elu': lambda d: ti.SymmetricConvVectorFlow(
        FEATURES, depth=2, hidden_width=8, context_features=CONTEXT,
        mixing='lu', activation='elu', dtype=d),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_round_trip_and_dense_log_det_under_a_context(case):
  x = np.random.default_rng(1).normal(size=(2, FEATURES))
  context = _context()
  bijector = _perturbed(CASES[case](tf.float64), x, context)
  y = bijector.forward(helpers.fresh(x), context=context)
  x_back = bijector.inverse(helpers.fresh(y), context=context)
  np.testing.assert_allclose(x_back, x, atol=1e-9)
  expected = helpers.dense_log_det(
      lambda t: bijector.forward(t, context=context), x,
      per_example_state=True)
  np.testing.assert_allclose(
      bijector.forward_log_det_jacobian(helpers.fresh(x), 1, context=context),
      expected, atol=1e-6, rtol=0)
  np.testing.assert_allclose(
      bijector.inverse_log_det_jacobian(helpers.fresh(y), 1, context=context),
      -expected, atol=1e-6, rtol=0)
  other = bijector.forward(helpers.fresh(x), context=_context(seed=7))
  assert np.max(np.abs(other - y)) > 1e-3  # the context matters


def test_distribution_takes_the_context_as_bijector_kwargs():
  """Samples are the flow, under the given context, applied to the base
  draw of the seed (another context moves them), and log_prob is the base
  density minus log|det| of that flow's dense Jacobian."""
  flow = CASES['SymmetricConvVectorFlow'](tf.float32)
  context = _context(dtype=np.float32)
  x = np.random.default_rng(2).normal(size=(2, FEATURES)).astype(np.float32)
  _perturbed(flow, x, context)
  dist = ti.flow_distribution(flow)
  samples = dist.sample(2, seed=(1, 2), bijector_kwargs={'context': context})
  assert samples.shape == (2, FEATURES)
  drawn = dist.distribution.sample(2, seed=(1, 2))
  np.testing.assert_allclose(
      flow.inverse(helpers.fresh(samples), context=context), drawn, atol=1e-5)
  elsewhere = dist.sample(2, seed=(1, 2), bijector_kwargs={
      'context': _context(seed=7, dtype=np.float32)})
  assert np.max(np.abs(elsewhere - samples)) > 1e-3
  log_prob = tf.function(lambda t, c: dist.log_prob(
      t, bijector_kwargs={'context': c}))(samples, context)
  expected = dist.distribution.log_prob(drawn) - helpers.dense_log_det(
      lambda t: flow.forward(t, context=context), drawn.numpy(),
      per_example_state=True)
  np.testing.assert_allclose(log_prob, expected, rtol=1e-4, atol=1e-4)


def test_log_prob_runs_each_conditioner_once_under_a_context(monkeypatch):
  flow = CASES['SymmetricConvVectorFlow'](tf.float32)
  calls = []
  original = coupling_lib.Coupling._params

  def counting(self, i, blocks, context=None):
    assert context is not None
    calls.append((self.name, i))
    return original(self, i, blocks, context)

  monkeypatch.setattr(coupling_lib.Coupling, '_params', counting)
  ti.flow_distribution(flow).log_prob(
      tf.zeros([2, FEATURES]),
      bijector_kwargs={'context': _context(dtype=np.float32)})
  assert len(calls) == 3 and len(set(calls)) == 3


def test_a_missing_or_unexpected_context_is_a_clear_error():
  x = tf.zeros([2, FEATURES], tf.float64)
  conditional = CASES['SymmetricConvVectorFlow'](tf.float64)
  with pytest.raises(ValueError, match='needs a context of 5 features'):
    conditional.inverse(x)
  with pytest.raises(ValueError, match='has no conditional layers'):
    ti.SymmetricConvVectorFlow(FEATURES, depth=1, dtype=tf.float64).inverse(
        x, context=_context())
  with pytest.raises(ValueError, match='vectors .* only'):
    tfib.CONFCoupling(4, context_features=3)


def test_conf_scales_are_recorded_per_coupling_when_eager():
  from tfp_invconv import diagnostics
  flow = ti.SymmetricConvVectorFlow(FEATURES, depth=2, hidden_width=8,
                                    conf_layers=3, max_scale=1.5,
                                    context_features=CONTEXT)
  x = np.random.default_rng(3).normal(size=(4, FEATURES)).astype(np.float32)
  context = _context(batch=4, dtype=np.float32)
  _perturbed(flow, x, context)
  with diagnostics.recording_couplings(flow) as records:
    flow.forward(helpers.fresh(x), context=context)
    tf.function(lambda t: flow.forward(t, context=context))(
        helpers.fresh(x))  # traced: not recorded
  assert sorted(r['coupling'] for r in records) == ['conf_s0', 'conf_s1']
  for r in map(diagnostics.conf_scales, records):
    assert r['max_scale'] == 1.5
    assert r['log_s'].shape == r['log_w'].shape == (3, 4, FEATURES // 2)
    assert np.all(r['log_s'] <= np.log(1.5)) and np.std(r['log_s']) > 0
