"""XLA (jit_compile=True), the path GPUs and TPUs take: every convolution x
coupling of CInCFlow compiles for a train step (log_prob, the encoding
direction and their gradient) and for decoding (sampling), and agrees with
the plain graphs to float32 round-off."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfp_invconv as ti
from tfp_invconv.model import FlowModel

SHAPE = (8, 8, 3)
CASES = list(itertools.product(ti.flows.CONVS, ti.flows.COUPLINGS))


def _perturbed(conv, coupling):
  """A small initialised flow whose every weight is moved off its
  initialisation (identity coupling heads included), with its pixels."""
  keras.utils.set_random_seed(0)
  flow = ti.CInCFlow(SHAPE, levels=1, depth=1, hidden_width=8, conv=conv,
                     coupling=coupling)
  model = FlowModel(flow, num_levels=256, seed=0, noise='center')
  pixels = np.random.default_rng(1).integers(0, 256, (16,) + SHAPE)
  model.initialize(pixels)
  rng = np.random.default_rng(2)
  for weight in model.trainable_weights:
    weight.assign(weight + rng.normal(0., 0.05, weight.shape))
  return model, pixels


def _loss_and_gradients(model, pixels, jit_compile):
  """The train step's loss and its gradient, in one compiled graph or not."""
  def step(images):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(model.bits_per_dim(images, noise='center'))
    return loss, tape.gradient(loss, model.trainable_weights)
  return tf.function(step, jit_compile=jit_compile)(pixels)


@pytest.mark.slow
@pytest.mark.parametrize('conv, coupling', CASES)
def test_xla_agrees_with_plain_graphs(conv, coupling):
  model, pixels = _perturbed(conv, coupling)
  plain_loss, plain_grads = _loss_and_gradients(model, pixels, False)
  xla_loss, xla_grads = _loss_and_gradients(model, pixels, True)
  np.testing.assert_allclose(xla_loss, plain_loss, rtol=1e-5)
  # float32 round-off of the sums behind a gradient entry scales with the
  # largest entries, so tiny entries are held to that absolute level.
  largest = max(float(np.max(np.abs(g))) for g in plain_grads)
  for weight, xla_grad, plain_grad in zip(model.trainable_weights, xla_grads,
                                          plain_grads):
    assert np.max(np.abs(plain_grad)) > 0., weight.path  # every weight trains
    np.testing.assert_allclose(xla_grad, plain_grad, rtol=1e-4,
                               atol=1e-5 * largest, err_msg=weight.path)
  # The gradient compiled log_prob and the encoding direction; decoding
  # (sampling) is the other.
  x = model.dequantize(pixels[:4], noise='center')
  z = tf.random.stateless_normal([4, model.flow.latent_size], [0, 1])
  model.jit_compile = False
  plain_decoded = model.decode(z).numpy()
  model.jit_compile = True
  np.testing.assert_allclose(model.decode(model.encode(x)), x, atol=1e-4)
  np.testing.assert_allclose(model.decode(z), plain_decoded, atol=1e-4)
  assert ('decode', True) in model.latent_space.graphs
