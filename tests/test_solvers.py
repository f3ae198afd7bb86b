"""Exactness of the parallel triangular solves."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_invconv import solvers
from tfp_invconv.bijectors import CInCConv2D
from tfp_invconv.bijectors import EmergingConv2D
from tests import helpers


def _system(shape, k, seed, stddev=0.1, dtype=np.float64, full_centre=False):
  """A top-left kernel with off-centre taps of `stddev` and a unit-diagonal
  upper-triangular (or full, near-identity) centre, plus a unit-scale
  input."""
  rng = np.random.default_rng(seed)
  c = shape[-1]
  kernel = rng.normal(0., stddev, (k, k, c, c))
  centre = rng.normal(0., stddev, (c, c))
  kernel[k - 1, k - 1] = np.eye(c) + (centre if full_centre
                                      else np.triu(centre, 1))
  x = rng.normal(size=shape)
  return (tf.constant(kernel, dtype), tf.constant(x, dtype),
          tf.constant(np.linalg.inv(kernel[k - 1, k - 1]), dtype))


ALL_SOLVES = [solvers.row_solve, solvers.row_conv_solve,
              solvers.wavefront_solve, solvers.block_jacobi_solve]


@pytest.mark.parametrize('solve', ALL_SOLVES)
@pytest.mark.parametrize('shape,k', [((2, 5, 6, 4), 3), ((3, 7, 4, 2), 2),
                                     ((1, 6, 6, 3), 5), ((2, 1, 9, 2), 3)])
@pytest.mark.parametrize('full_centre', [False, True])
def test_solvers_invert_the_convolution_in_float64(solve, shape, k,
                                                   full_centre):
  kernel, x, centre_inverse = _system(shape, k, seed=k,
                                      full_centre=full_centre)
  y = solvers.conv_top_left(x, kernel)
  np.testing.assert_allclose(solve(y, kernel, centre_inverse), x, atol=1e-10)


def test_skew_round_trip_puts_anti_diagonals_in_columns():
  x = tf.reshape(tf.range(2 * 3 * 4 * 1, dtype=tf.float64), [2, 3, 4, 1])
  skewed = solvers.skew(x)
  assert skewed.shape == (2, 3, 6, 1)
  for i in range(3):
    for j in range(4):
      assert skewed[1, i, i + j, 0] == x[1, i, j, 0]
  np.testing.assert_array_equal(solvers.unskew(skewed, 4), x)


def test_block_jacobi_needs_every_sweep_without_tolerance():
  """Exact after H + W - 1 sweeps; one fewer leaves the last pixel wrong."""
  kernel, x, centre_inverse = _system((1, 4, 5, 2), 3, seed=0)
  y = solvers.conv_top_left(x, kernel)
  short = solvers.block_jacobi_solve(y, kernel, centre_inverse,
                                     max_iterations=4 + 5 - 2)
  assert float(tf.reduce_max(tf.abs(short - x))) > 1e-8
  full = solvers.block_jacobi_solve(y, kernel, centre_inverse)
  np.testing.assert_allclose(full, x, atol=1e-12)


@pytest.mark.parametrize('make', [
    lambda: CInCConv2D(3, dtype=tf.float64),
    lambda: CInCConv2D(3, solver='rows', dtype=tf.float64),
    lambda: CInCConv2D(3, centre='triangular', solver='jacobi',
                       dtype=tf.float64),
    lambda: CInCConv2D(3, kernel_size=5, solver='wavefront',
                       dtype=tf.float64),
    lambda: EmergingConv2D(3, dtype=tf.float64)],
    ids=['auto', 'rows', 'jacobi', 'wavefront', 'emerging'])
def test_inverse_with_unknown_batch_and_image_size(make):
  layer = make()
  helpers.perturb_weights(layer)
  inverse = tf.function(layer.inverse, input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.float64)])
  for shape in [(2, 5, 6, 3), (1, 3, 9, 3)]:
    x = np.random.default_rng(0).normal(size=shape)
    y = layer.forward(helpers.fresh(x))
    np.testing.assert_allclose(inverse(helpers.fresh(y)), x, atol=1e-9)


# Control-flow plumbing, and arithmetic on the int32 step index.
_PLUMBING = {'Identity', 'Const', 'NoOp', '_Arg', '_Retval', 'Placeholder'}


def _while_body_tensor_ops(solve, y_spec, kernel, centre_inverse):
  graph = tf.function(lambda y: solve(y, kernel, centre_inverse)
                      ).get_concrete_function(y_spec).graph
  bodies = [f for f in graph.as_graph_def().library.function
            if 'while_body' in f.signature.name]
  assert len(bodies) == 1
  return sorted(n.op for n in bodies[0].node_def
                if n.op not in _PLUMBING
                and n.attr['T'].type != tf.int32.as_datatype_enum)


@pytest.mark.parametrize('solve, expected', [
    (solvers.row_solve,
     ['AddV2', 'MatMul', 'TensorListGetItem', 'TensorListSetItem']),
    (solvers.wavefront_solve,
     ['AddV2', 'Conv2D', 'Mul', 'TensorListGetItem', 'TensorListGetItem',
      'TensorListSetItem'])])
def test_sequential_step_op_counts(solve, expected):
  """The ops a GPU launches per sequential step (its latency): the row
  solver's step is a read, a product, a sum and a write; the wavefront's
  adds the mask of the skewed padding and its read."""
  kernel, _, centre_inverse = _system((1, 6, 6, 3), 3, seed=0,
                                      dtype=np.float32)
  spec = tf.TensorSpec([None, None, None, 3], tf.float32)
  assert _while_body_tensor_ops(solve, spec, kernel,
                                centre_inverse) == expected


@pytest.mark.parametrize('solve', ALL_SOLVES)
def test_solvers_compile_with_xla_and_agree(solve):
  kernel, x, centre_inverse = _system((2, 6, 5, 3), 3, seed=1,
                                      dtype=np.float32)
  y = solvers.conv_top_left(x, kernel)
  run = lambda jit: tf.function(lambda y: solve(y, kernel, centre_inverse),
                                jit_compile=jit)(y)
  np.testing.assert_allclose(run(True), run(False), atol=1e-5)
  np.testing.assert_allclose(run(True), x, atol=1e-4)


def test_row_conv_unrolls_known_heights_and_loops_over_unknown_ones():
  kernel, x, centre_inverse = _system((2, 5, 4, 3), 3, seed=2)
  y = solvers.conv_top_left(x, kernel)
  solve = tf.function(lambda t: solvers.row_conv_solve(t, kernel,
                                                       centre_inverse))
  for spec in [tf.TensorSpec([None, 5, None, 3], tf.float64),
               tf.TensorSpec([None, None, None, 3], tf.float64)]:
    graph = solve.get_concrete_function(spec).graph
    loops = [n for n in graph.as_graph_def().node if 'While' in n.op]
    assert len(loops) == (0 if spec.shape[1] else 1)
    np.testing.assert_allclose(solve(y), x, atol=1e-10)


def _uses_while_loop(fn, spec):
  graph = tf.function(fn).get_concrete_function(spec).graph
  return any('While' in n.op for n in graph.as_graph_def().node)


@pytest.mark.parametrize('device, loops', [('CPU', False), ('GPU', True),
                                           ('TPU', True)])
def test_auto_picks_the_solver_of_the_device(monkeypatch, device, loops):
  """'auto': the unrolled row_conv form on CPU, the four-op loop of
  row_solve on accelerators."""
  kernel, x, centre_inverse = _system((2, 5, 4, 3), 3, seed=3)
  monkeypatch.setattr(solvers, 'device_type', lambda tensor: device)
  spec = tf.TensorSpec([2, 5, 4, 3], tf.float64)
  assert _uses_while_loop(
      lambda y: solvers.solve(y, kernel, centre_inverse), spec) == loops
  y = solvers.conv_top_left(x, kernel)
  np.testing.assert_allclose(solvers.solve(y, kernel, centre_inverse), x,
                             atol=1e-10)


def test_device_type_reads_the_placement():
  assert solvers.device_type(tf.constant([1.])) == 'CPU'

  @tf.function
  def placed(t):
    with tf.device('/CPU:0'):
      return tf.constant(solvers.device_type(tf.identity(t)))
  assert placed(tf.constant([1.])).numpy() == b'CPU'


def test_unknown_method_is_refused():
  kernel, x, centre_inverse = _system((1, 3, 3, 2), 3, seed=0)
  with pytest.raises(ValueError, match='row_conv'):
    solvers.solve(x, kernel, centre_inverse, method='rowz')
  with pytest.raises(ValueError, match='solver must be one of'):
    CInCConv2D(3, solver='rowz')
