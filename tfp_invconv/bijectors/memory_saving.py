"""Memory-saving training: flow steps whose gradient recomputes or rebuilds
their activations instead of keeping them."""

import tensorflow as tf

from tfp_invconv.bijectors import base


class _Wrapper(base.FlowBijectorBase):
  """A chain of bijectors with its own gradient. They are listed as
  tfb.Chain lists them, last applied first: walking the flow meets the
  weights in the same order with and without the wrapper."""

  def __init__(self, bijectors, event_shape, dtype, validate_args,
               parameters, name):
    self._bijectors = list(bijectors)
    super().__init__(event_shape_in=event_shape, dtype=dtype,
                     validate_args=validate_args, parameters=parameters,
                     name=name)

  @property
  def bijectors(self):
    return list(self._bijectors)

  def _inverse_and_log_det(self, y):
    return _inverse(self._bijectors, y)


class Recomputed(_Wrapper):
  """A chain of bijectors (in forward order) whose gradient recomputes its
  activations.

  Backpropagating through a deep flow keeps every layer's activations until
  the backward pass reaches it: memory grows with the depth D. `Recomputed`
  runs the chain (one flow step: ActNorm, convolution, coupling) without
  recording it, keeps only the step's input, and runs the step again when
  the gradient needs its activations (`tf.recompute_grad`). Memory then
  holds one step's activations plus one tensor per step, for about one more
  forward pass of compute. `CInCFlow(..., memory_saving='recompute')` wraps
  every step so; Glow trains this way by default.

    Forward:  y = b_n(... b_1(x))
    Log-det:  sum_i log|det J_{b_i}|
    Inverse:  the bijectors' inverses in reverse order (nothing recomputed:
              sampling keeps no activations for a gradient)

  ```python
  step = Recomputed([ActNorm(c), CInCConv2D(c), AffineCoupling(c)],
                    (h, w, c))
  z = step.forward(x)   # the same values and gradients, less memory
  ```

  Growth bound: that of the chain it wraps (the same values).

  References:
    Chen, Xu, Zhang, Guestrin (2016). Training Deep Nets with Sublinear
    Memory Cost. https://arxiv.org/abs/1604.06174
  """

  def __init__(self, bijectors, event_shape, dtype=tf.float32,
               validate_args=False, name='recomputed'):
    """Args:
      bijectors: the chain, first applied first, each with the event shape
        `event_shape` in and out.
      event_shape: (H, W, C).
    """
    parameters = dict(locals())
    self._forward_recomputed = tf.recompute_grad(self._chain_forward)
    super().__init__(reversed(bijectors), event_shape, dtype, validate_args,
                     parameters, name)

  def _chain_forward(self, x):
    return _forward(reversed(self._bijectors), x)

  def _forward_and_log_det(self, x):
    return self._forward_recomputed(x)


def _forward(bijectors, x):
  """(y, log-det) of bijectors applied in the order given."""
  return _through(bijectors, x,
                  lambda b: (b.forward, b.forward_log_det_jacobian))


def _inverse(bijectors, y):
  """(x, log-det of the inverse) of bijectors undone in the order given."""
  return _through(bijectors, y,
                  lambda b: (b.inverse, b.inverse_log_det_jacobian))


def _through(bijectors, x, direction):
  log_det = 0.
  for b in bijectors:
    transform, log_det_jacobian = direction(b)
    x, log_det = transform(x), log_det + log_det_jacobian(x, event_ndims=3)
  return x, log_det


def _after(x, gradient):
  """x plus a zero computed from `gradient`. The data dependency makes a
  graph (XLA included, which ignores control dependencies) rebuild a step
  only once the backward pass reaches it; otherwise every step's inverse
  and recomputation, which need only the kept output, may run early and
  hold all the activations at once."""
  first = tf.reduce_max(tf.reshape(gradient, [-1])[:1])
  return x + tf.cast(tf.where(tf.math.is_nan(first), first, 0.), x.dtype)


class Reversible(_Wrapper):
  """A chain of flow steps whose gradient rebuilds each step's input from
  its output with the exact inverse, last step first: memory holds one
  step's activations and nothing per step, for one inverse and one forward
  pass more per step; the rebuilt inputs carry the inverses' round-off.
  `CInCFlow(..., memory_saving='inverse')` wraps each level's steps so.

    Forward:  y = s_n(... s_1(x)); only y is kept.
    Log-det:  sum_i log|det J_{s_i}|
    Gradient: for i = n .. 1: x_i = s_i^-1(y_i), then s_i run again on x_i
              to backpropagate (dy_i, dlog-det) to dx_i = dy_{i-1} and
              s_i's weights.
    Inverse:  the steps' inverses in reverse order.

  ```python
  level = Reversible([[ActNorm(c), CInCConv2D(c), AffineCoupling(c)]
                      for _ in range(depth)], (h, w, c))
  ```

  Growth bound: that of the steps it wraps (the same values).

  References:
    Gomez, Ren, Urtasun, Grosse (2017). The Reversible Residual Network.
    https://arxiv.org/abs/1707.04585
  """

  def __init__(self, steps, event_shape, dtype=tf.float32,
               validate_args=False, name='reversible'):
    """Args:
      steps: flow steps in forward order, each a list of bijectors (first
        applied first) with the event shape `event_shape` in and out.
      event_shape: (H, W, C).
    """
    parameters = dict(locals())
    self._steps = [list(step) for step in steps]
    super().__init__([b for step in reversed(self._steps)
                      for b in reversed(step)], event_shape, dtype,
                     validate_args, parameters, name)

  def _forward_and_log_det(self, x):

    @tf.custom_gradient
    def chain(x):
      y, log_det = _forward((b for step in self._steps for b in step), x)

      def gradient(dy, dlog_det, variables=()):
        if dlog_det is None:  # a loss that does not use the log-det
          dlog_det = tf.zeros_like(log_det)
        return self._backward(y, dy, dlog_det, variables)

      return (y, log_det), gradient

    return chain(x)

  def _backward(self, y, dy, dlog_det, variables):
    """(dx, [d variable]) from the output alone, one step at a time."""
    variable_gradients = {v.ref(): None for v in variables}
    for step in reversed(self._steps):
      x, _ = _inverse(reversed(step), _after(y, dy))
      x = tf.stop_gradient(x)
      with tf.GradientTape() as tape:
        tape.watch(x)
        y_again, log_det = _forward(step, x)
      watched = [v for v in tape.watched_variables()
                 if v.ref() in variable_gradients]
      dy, *gradients = tape.gradient(
          (y_again, log_det), [x] + watched, output_gradients=(dy, dlog_det))
      for v, g in zip(watched, gradients):
        if g is not None:
          previous = variable_gradients[v.ref()]
          variable_gradients[v.ref()] = g if previous is None else previous + g
      y = x
    return dy, [variable_gradients[v.ref()] if
                variable_gradients[v.ref()] is not None else tf.zeros_like(v)
                for v in variables]
