"""Couplings: the split, the conditioners and the block bijectors."""

import numpy as np
import pytest
import tensorflow as tf

import tfp_invconv as ti
from tfp_invconv import bijectors as tfib
from tfp_invconv.bijectors import coupling as coupling_lib
from tests import helpers


def test_log_prob_runs_each_conditioner_once(monkeypatch):
  flow = helpers.tiny_flow('cinc', 'quad', dtype=tf.float32)
  calls = []
  original = coupling_lib.Coupling._params

  def counting(self, i, blocks, *context):
    calls.append((self.name, i))
    return original(self, i, blocks, *context)

  monkeypatch.setattr(coupling_lib.Coupling, '_params', counting)
  ti.flow_distribution(flow).log_prob(tf.zeros([2, 8, 8, 3]))
  assert calls and len(calls) == len(set(calls))


class _PaperReverseQuadCoupling(tfib.QuadCoupling):
  """The reference code's reverse pass: block 4, not block 1, conditions."""

  def _inverse_and_log_det(self, y):
    blocks = tf.split(y, 4, axis=-1)
    recovered = [blocks[0]]
    for i in range(1, 4):
      known = [blocks[3]] + recovered[1:]
      recovered.append(self.block_bijector(i, known).inverse(blocks[i]))
    return tf.concat(recovered, axis=-1), tf.zeros([tf.shape(y)[0]], y.dtype)


def _reference_quad_inverse(coupling, y):
  """CInC eqs. 3-6 inverted by hand: x2, then x3, then x4."""
  y1, y2, y3, y4 = tf.split(y, 4, axis=-1)

  def undo(y_i, net, *known):
    t, r = tf.split(net(tf.concat(known, -1)), 2, axis=-1)
    return y_i / tf.exp(2. * tf.tanh(r / 2.)) - t

  nets = coupling.conditioners
  x2 = undo(y2, nets[0], y1)
  x3 = undo(y3, nets[1], y1, x2)
  x4 = undo(y4, nets[2], y1, x2, x3)
  return tf.concat([y1, x2, x3, x4], axis=-1)


def test_quad_inverse_conditions_on_recovered_inputs():
  quad = tfib.QuadCoupling(8, hidden_width=8, dtype=tf.float64)
  helpers.perturb_weights(quad, stddev=0.3)
  x = np.random.default_rng(0).normal(size=(2, 5, 6, 8))
  y = quad.forward(helpers.fresh(x))
  np.testing.assert_allclose(quad.inverse(helpers.fresh(y)),
                             _reference_quad_inverse(quad, y), atol=1e-10)


def test_round_trip_check_catches_the_paper_reverse_bug():
  correct = tfib.QuadCoupling(8, hidden_width=8, dtype=tf.float64)
  helpers.perturb_weights(correct, stddev=0.3)
  buggy = _PaperReverseQuadCoupling(8, hidden_width=8, dtype=tf.float64)
  for source, target in zip(correct.trainable_variables,
                            buggy.trainable_variables):
    target.assign(source)
  x = np.random.default_rng(0).normal(size=(2, 5, 6, 8))
  assert helpers.round_trip_errors(correct, x, x)[0] < 1e-10
  assert helpers.round_trip_errors(buggy, x, x)[0] > 1e-2


def test_coupling_rejects_indivisible_channels():
  with pytest.raises(ValueError, match='divisible by 4'):
    tfib.QuadCoupling(6, hidden_width=4)


def test_a_conditioner_built_on_first_call_is_tracked():
  import keras
  make_net = lambda c_in, c_out, name: keras.Sequential(
      [keras.layers.Conv2D(c_out, 3, padding='same')], name=name)
  coupling = tfib.Coupling(4, 2, tfib.AffineTransform(), make_net)
  assert not coupling.trainable_variables
  coupling.forward(tf.zeros([1, 4, 4, 4]))
  assert len(coupling.trainable_variables) == 2  # kernel and bias


def test_checkerboard_split_takes_alternate_pixels_and_merges_back():
  split = tfib.CheckerboardSplit()
  x = tf.reshape(tf.range(2 * 4 * 6 * 1), [2, 4, 6, 1])
  even, odd = split.split(x)
  h, w = np.meshgrid(range(4), range(6), indexing='ij')
  colour = (h + w) % 2
  image = x[0, ..., 0].numpy()
  np.testing.assert_array_equal(even[0, ..., 0],
                                image[colour == 0].reshape(4, 3))
  np.testing.assert_array_equal(odd[0, ..., 0],
                                image[colour == 1].reshape(4, 3))
  np.testing.assert_array_equal(split.merge([even, odd]), x)
  with pytest.raises(ValueError, match='even image width'):
    split.split(tf.zeros([1, 4, 5, 1]))
