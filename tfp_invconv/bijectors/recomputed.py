"""Memory-saving training: a flow step whose activations the gradient
recomputes instead of keeping.

Backpropagating through a deep flow keeps every layer's activations until
the backward pass reaches it: memory grows with the depth D. `Recomputed`
runs a chain of bijectors (one flow step: ActNorm, convolution, coupling)
without recording it, keeps only the step's input, and runs the step again
when the gradient needs its activations (`tf.recompute_grad`). Memory then
holds one step's activations plus one tensor per step, for about one more
forward pass of compute.

  Forward:  y = b_n(... b_1(x)),  log-det = sum_i log|det J_{b_i}|
  Inverse:  the bijectors' inverses in reverse order (nothing recomputed:
            sampling keeps no activations for a gradient)

```python
step = Recomputed([ActNorm(c), CInCConv2D(c), AffineCoupling(c)], (h, w, c))
z = step.forward(x)   # the same values and gradients, less memory
```

`CInCFlow(..., memory_saving=True)` wraps every step so. Reference: Chen
et al., "Training Deep Nets with Sublinear Memory Cost" (2016); Glow trains
this way by default.
"""

import tensorflow as tf

from tfp_invconv.bijectors import base


class Recomputed(base.FlowBijectorBase):
  """A chain of bijectors (in forward order) whose gradient recomputes its
  activations (module doc)."""

  def __init__(self, bijectors, event_shape, dtype=tf.float32,
               validate_args=False, name='recomputed'):
    """Args:
      bijectors: the chain, first applied first, each with the event shape
        `event_shape` in and out.
      event_shape: (H, W, C).
    """
    parameters = dict(locals())
    # Listed as tfb.Chain lists them, last applied first: walking the flow
    # meets the weights in the same order with and without the wrapper.
    self._bijectors = list(reversed(bijectors))
    self._forward_recomputed = tf.recompute_grad(self._chain_forward)
    super().__init__(event_shape_in=event_shape, dtype=dtype,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  @property
  def bijectors(self):
    return list(self._bijectors)

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict()

  def _chain_forward(self, x):
    log_det = 0.
    for b in reversed(self._bijectors):
      x, log_det = b.forward(x), log_det + b.forward_log_det_jacobian(
          x, event_ndims=3)
    return x, log_det

  def _forward_and_log_det(self, x):
    return self._forward_recomputed(x)

  def _inverse_and_log_det(self, y):
    log_det = 0.
    for b in self._bijectors:
      y, log_det = b.inverse(y), log_det + b.inverse_log_det_jacobian(
          y, event_ndims=3)
    return y, log_det
