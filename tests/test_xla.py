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


def _trained(conv, coupling, jit_compile):
  """A small flow after two SGD steps (the first initialises ActNorm),
  with the step's loss."""
  keras.utils.set_random_seed(0)
  flow = ti.CInCFlow(SHAPE, levels=1, depth=1, hidden_width=8, conv=conv,
                     coupling=coupling)
  model = FlowModel(flow, num_levels=256, seed=0, noise='center')
  model.compile(optimizer=keras.optimizers.SGD(1e-3),
                jit_compile=jit_compile)
  pixels = np.random.default_rng(1).integers(0, 256, (32,) + SHAPE)
  history = model.fit(pixels, batch_size=16, epochs=1, verbose=0,
                      shuffle=False)
  return model, history.history['bpd'][-1]


@pytest.mark.slow
@pytest.mark.parametrize('conv, coupling', CASES)
def test_xla_agrees_with_plain_graphs(conv, coupling):
  plain, plain_loss = _trained(conv, coupling, False)
  xla, xla_loss = _trained(conv, coupling, True)
  np.testing.assert_allclose(xla_loss, plain_loss, rtol=1e-5)
  for a, b in zip(xla.get_weights(), plain.get_weights()):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  xla.set_weights(plain.get_weights())
  # The train step compiled log_prob and the encoding direction; decoding
  # (sampling) is the other.
  pixels = np.random.default_rng(2).integers(0, 256, (4,) + SHAPE)
  x = plain.dequantize(pixels, noise='center')
  np.testing.assert_allclose(xla.decode(plain.encode(x)), x, atol=1e-4)
  z = tf.random.stateless_normal([4, plain.flow.latent_size], [0, 1])
  np.testing.assert_allclose(xla.decode(z), plain.decode(z), atol=1e-4)
  assert set(xla.latent_space.graphs) == {('decode', True)}
