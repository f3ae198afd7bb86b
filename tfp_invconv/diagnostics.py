"""What a flow's layers do on given inputs, gathered while it runs eagerly.

Everything here goes through the layers' public accessors (a coupling's
`block_bijector`, the bijectors it builds, `PixelAdaptiveConv`'s
`inverse_with_solve_info`); no layer imports this module.

```python
with diagnostics.recording_couplings(model.flow) as records:
  model.flow.forward(z)                      # eagerly
smallest = [diagnostics.smallest_log_scale(r) for r in records
            if r['transform'].scale == 'sigmoid']
```
"""

import contextlib

import numpy as np
import tensorflow as tf

from tfp_invconv.bijectors import base
from tfp_invconv.bijectors.coupling import Coupling
from tfp_invconv.bijectors.pac_conv import PixelAdaptiveConv


def _couplings(flow):
  return [b for b in base.walk_bijectors(flow) if isinstance(b, Coupling)]


@contextlib.contextmanager
def _wrapping_block_bijectors(flow, on_block):
  """Runs `on_block(coupling, i, known_blocks, context, bijector)` for every
  block bijector that a coupling of `flow` builds eagerly inside the block;
  what it returns replaces the bijector."""
  couplings = _couplings(flow)

  def wrapped(coupling):
    build = coupling.block_bijector

    def block_bijector(i, known_blocks, context=None):
      bijector = build(i, known_blocks, context)
      if not tf.executing_eagerly():
        return bijector
      return on_block(coupling, i, known_blocks, context, bijector)
    return block_bijector

  for coupling in couplings:
    coupling.block_bijector = wrapped(coupling)
  try:
    yield
  finally:
    for coupling in couplings:
      del coupling.block_bijector


@contextlib.contextmanager
def recording_couplings(flow):
  """Collects, for every coupling block of `flow` evaluated eagerly inside
  the block, a dict: `coupling` (its name), `block` (i), `inputs` (the
  input of its conditioner NN_i, an array), `bijector` (the block's
  bijector) and `transform` (the coupling's `bijector_fn`). E.g. to see
  which hidden units a trained conditioner still uses, or where a sample
  leaves the range the conditioners saw in training."""
  records = []

  def record(coupling, i, known_blocks, context, bijector):
    records.append(dict(
        coupling=coupling.name, block=i, bijector=bijector,
        transform=coupling.bijector_fn,
        inputs=coupling.conditioner_input(i, known_blocks, context).numpy()))
    return bijector

  with _wrapping_block_bijectors(flow, record):
    yield records


def smallest_log_scale(record):
  """Per example, the smallest log-scale of an `AffineTransform` block
  (its bijector is Scale after Shift)."""
  log_scale = record['bijector'].bijectors[0].log_scale.numpy()
  return log_scale.reshape(len(log_scale), -1).min(axis=1)


def conf_scales(record):
  """A CONF block's log-spectra `log_w` and log-scales `log_s` (arrays
  [m, ..., C]) and its bound `max_scale`."""
  return dict(log_w=record['bijector'].log_w.numpy(),
              log_s=record['bijector'].log_s.numpy(),
              max_scale=record['transform'].max_scale)


@contextlib.contextmanager
def recording_solves(flow):
  """Collects, for every PAC convolution inverse that a coupling of `flow`
  runs eagerly inside the block, a dict per triangular solve: `layer`,
  `solver`, `triangle` ('lower' or 'upper'), `steps` (rows, or Jacobi
  iterations) and, for Jacobi, `changes` (max |x(t+1) - x(t)| per
  iteration)."""
  records = []

  def recorded_inverse(stage):
    # Once per input, as TFP's cache would: the block's log-det asks for
    # the same inverse again.
    done = {}

    def inverse(z, **kwargs):
      if id(z) not in done:
        x, solves = stage.inverse_with_solve_info(z)
        records.extend({'layer': stage.name, **{
            k: v if isinstance(v, str) else np.asarray(v)
            for k, v in solve.items()}} for solve in solves)
        done[id(z)] = (z, x)  # z kept alive, so its id is not reused
      return done[id(z)][1]
    return inverse

  def record(coupling, i, known_blocks, context, bijector):
    for stage in base.walk_bijectors(bijector):
      if isinstance(stage, PixelAdaptiveConv):
        stage.inverse = recorded_inverse(stage)
    return bijector

  with _wrapping_block_bijectors(flow, record):
    yield records
