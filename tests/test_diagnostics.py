"""diagnostics: records of the couplings and solves a flow runs."""

import collections
import pathlib

import numpy as np
import tensorflow as tf

import tfp_invconv as ti
from tfp_invconv import diagnostics
from tfp_invconv.bijectors import coupling as coupling_lib
from tests import helpers


def test_recording_couplings_sees_every_block_and_its_scales():
  flow = ti.CInCFlow((8, 8, 1), levels=2, depth=1, hidden_width=8,
                     conv='1x1', coupling='quad')
  helpers.perturb_weights(flow, stddev=0.5)
  z = tf.random.stateless_normal([3, 64], [0, 1])
  with diagnostics.recording_couplings(flow) as records:
    x = flow.forward(z)
  # A Quad coupling (3 blocks) per level, and the split prior of level 1.
  names = [r['coupling'] for r in records]
  assert len(names) == 7 and sum(n.startswith('coupling') for n in names) == 6
  couplings = {b.name: b for b in diagnostics._couplings(flow)}
  for r in records:
    assert r['inputs'].shape[0] == 3
    net = couplings[r['coupling']].conditioners[r['block'] - 1]
    raw = np.split(net(r['inputs']).numpy(), 2, axis=-1)[1]
    expected = (2. * np.tanh(raw / 2.)).reshape(3, -1).min(axis=1)
    np.testing.assert_allclose(diagnostics.smallest_log_scale(r), expected,
                               rtol=1e-5, atol=1e-6)
  assert np.isfinite(x.numpy()).all()
  # The couplings are themselves again afterwards.
  assert all('block_bijector' not in vars(b)
             for b in diagnostics._couplings(flow))


def test_recording_solves_reports_each_triangular_solve():
  flow = ti.PACFlow((8, 8, 1), scales=1, checkerboard=1, channel=0,
                    hidden_width=8, blocks=1, features=3, components=2,
                    solver='jacobi')
  helpers.perturb_weights(flow, stddev=0.05)
  z = tf.random.stateless_normal([2, 64], [0, 2])
  with diagnostics.recording_solves(flow) as records:
    flow.forward(z)
  assert records and {r['triangle'] for r in records} == {'lower', 'upper'}
  # Each solve once, though the block's log-det asks for the inverse again.
  solves = collections.Counter((r['layer'], r['triangle']) for r in records)
  assert set(solves.values()) == {1}, solves
  for r in records:
    assert r['solver'] == 'jacobi' and r['steps'] >= 1
    assert len(r['changes']) == r['steps']


# Eager reads a bijector module may make: ActNorm's `initialized` flag, a
# Python-side property that `FlowModel.fit` reads, not part of any transform.
EAGER_READS = {'actnorm.py': 1}


def test_no_bijector_imports_the_diagnostics_or_reads_values_eagerly():
  package = pathlib.Path(coupling_lib.__file__).parent
  for module in package.glob('*.py'):
    text = module.read_text()
    assert 'diagnostics' not in text, module.name
    assert text.count('.numpy()') == EAGER_READS.get(module.name, 0), (
        module.name)
