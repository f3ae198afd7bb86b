"""Mixed precision: bfloat16 conditioner networks around a float32 bijection.

Nearly all of a flow's FLOPs are in its couplings' conditioner networks,
and a coupling stays exactly invertible whatever precision they compute in:
going back, the conditioner is fed the bit-identical block it was fed going
forward (y1 = x1), so it returns the same parameters. Under the
`mixed_bfloat16` Keras policy the conditioners keep float32 weights (master
weights: checkpoints move freely between the modes) and compute in
bfloat16; `Coupling` casts their outputs to the flow's float32 before the
elementwise map. Everything bijective stays float32: scales and shifts,
log-determinants, ActNorm, the invertible convolutions and their solvers,
the priors' maps.

```python
flow = ti.CInCFlow((32, 32, 3), levels=3)
model = FlowModel(flow, mixed_precision=True)  # conditioners in bfloat16
```

bfloat16 is fast where the hardware has it (AVX512-BF16 or AMX on x86
CPUs, any recent GPU or TPU); elsewhere TensorFlow emulates it slowly, so
`FlowModel` falls back to float32 there and says so.
"""

import warnings

import tensorflow as tf

from tfp_invconv.bijectors import base
from tfp_invconv.bijectors import coupling
from tfp_invconv.bijectors import memory_saving

FLOAT32 = 'float32'
MIXED = 'mixed_bfloat16'
# /proc/cpuinfo flags of x86 CPUs with native bfloat16 arithmetic.
BFLOAT16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


def conditioners(flow):
  """The conditioner networks of every coupling in `flow`, each once."""
  nets = {}
  for bijector in base.walk_bijectors(flow):
    if isinstance(bijector, coupling.Coupling):
      nets.update((id(net), net) for net in bijector.conditioners)
  return list(nets.values())


def set_conditioner_policy(flow, policy):
  """Makes every conditioner of `flow` (and each of its layers) compute
  under the Keras dtype policy `policy` ('float32' or 'mixed_bfloat16').
  The weights stay as they are."""
  if policy not in (FLOAT32, MIXED):
    raise ValueError(f'policy must be {FLOAT32!r} or {MIXED!r}, got '
                     f'{policy!r}.')
  nets = conditioners(flow)
  other = {w.dtype for net in nets for w in net.weights} - {'float32'}
  if policy == MIXED and other:
    raise ValueError(f'mixed precision runs float32 flows; this one has '
                     f'{sorted(other)[0]} conditioner weights.')
  if policy == MIXED and any(isinstance(b, memory_saving.Reversible)
                             for b in base.walk_bijectors(flow)):
    raise ValueError(
        "mixed precision and memory_saving='inverse' do not go together: "
        'the gradient would use activations recovered by inverting, and '
        'round-off in them can flip a bfloat16 rounding in a later '
        "conditioner; use memory_saving='recompute'.")
  for net in nets:
    for layer in [net] + list(net.layers):
      layer.dtype_policy = policy


def conditioner_policy(flow):
  """MIXED when every conditioner of `flow` computes in bfloat16, else
  FLOAT32 (also for a flow without conditioners)."""
  policies = {layer.dtype_policy.name for net in conditioners(flow)
              for layer in [net] + list(net.layers)}
  return MIXED if policies == {MIXED} else FLOAT32


def native_bfloat16():
  """(True, where) when this machine computes bfloat16 natively (a GPU or
  TPU, or a CPU with AVX512-BF16 or AMX), else (False, why not)."""
  accelerators = [d.device_type for d in tf.config.list_logical_devices()
                  if d.device_type in ('GPU', 'TPU')]
  if accelerators:
    return True, f'{accelerators[0]} device'
  try:
    with open('/proc/cpuinfo') as f:
      flags = next((line.split(':', 1)[1].split() for line in f
                    if line.startswith('flags')), [])
  except OSError:
    flags = []
  found = [flag for flag in BFLOAT16_CPU_FLAGS if flag in flags]
  if found:
    return True, f'CPU with {", ".join(found)}'
  return False, ('this CPU has neither AVX512-BF16 nor AMX and there is no '
                 'GPU or TPU')


def resolve(mixed_precision):
  """The policy that `mixed_precision=True` gets on this machine: MIXED
  where bfloat16 is native, else FLOAT32 with a one-line warning."""
  if not mixed_precision:
    return FLOAT32
  native, where = native_bfloat16()
  if native:
    return MIXED
  warnings.warn(f'mixed precision off: {where}, so bfloat16 would be '
                'emulated (slower than float32); training in float32',
                stacklevel=4)
  return FLOAT32


def apply(flow, mixed_precision):
  """Puts `flow`'s conditioners in bfloat16 when `mixed_precision` asks
  for it and `resolve` allows it (otherwise leaves them as they are)."""
  if resolve(mixed_precision) == MIXED:
    set_conditioner_policy(flow, MIXED)
