"""Pretrained models shipped with the package, by name.

Each is in training/models/<name>/ (config.json, model.weights.h5 and
history.csv, as `training.artifacts` describes), installed as package data.
In a clone those are links to the long run that trained the model, which
reports its curve:

  mnist    benchmarks/results/long_runs/mnist            (long_runs.md)
  cifar10  benchmarks/results/long_runs/cifar10_bounded  (the CIFAR-10
           subset, bounded scales)

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

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'models')
NAMES = ('mnist', 'cifar10')


def run_folder(name):
  """The training output folder of pretrained model `name`."""
  if name not in NAMES:
    raise ValueError(f'no pretrained model {name!r}; there are: '
                     f'{", ".join(sorted(NAMES))}')
  folder = os.path.join(MODELS, name)
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
