"""Pretrained models shipped in this repository, by name.

Each is the output folder of a training run (config.json and
model.weights.h5, as `training.artifacts` describes), kept with the
benchmark that trained it and reports its curve:

  mnist    benchmarks/results/long_runs/mnist    (reported in long_runs.md)
  cifar10  benchmarks/results/long_runs/cifar10  (the CIFAR-10 subset)

```python
from training import pretrained
model, config = pretrained.load('mnist')
images, finite = model.to_pixels(model.sample(16, temperature=0.7))
```

  python -m training sample --pretrained mnist --temperatures 0.7 1.0
  python -m training evaluate --pretrained mnist --dataset ../shared/data/mnist.npz
"""

import os

from training import artifacts, callbacks

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = {name: os.path.join('benchmarks', 'results', 'long_runs', name)
        for name in ('mnist', 'cifar10')}


def run_folder(name):
  """The training output folder of pretrained model `name`."""
  if name not in RUNS:
    raise ValueError(f'no pretrained model {name!r}; there are: '
                     f'{", ".join(sorted(RUNS))}')
  folder = os.path.join(_ROOT, RUNS[name])
  if not os.path.exists(os.path.join(folder, artifacts.WEIGHTS)):
    raise FileNotFoundError(f'the weights of pretrained model {name!r} are '
                            f'missing from {folder}')
  return folder


def load(name, **flow_options):
  """(FlowModel, config) of pretrained model `name` (`flow_options` as for
  `artifacts.build_model`)."""
  return artifacts.load_model(run_folder(name), **flow_options)


def held_out_bits_per_dim(name):
  """(step, held-out bits/dim) of the weights it ships: those of the epoch
  with the lowest training bits/dim (`callbacks.BestWeights`)."""
  rows = [r for r in callbacks.read_history_rows(
      os.path.join(run_folder(name), 'history.csv')) if r.get('val_bpd')]
  best = min(rows, key=lambda r: float(r['bpd']))
  return int(best['step']), float(best['val_bpd'])
