"""Pretrained models shipped with the package, by name.

Each is in training/models/<name>/ (config.json, model.weights.h5,
history.csv and the evaluation.json of `evaluate`, as `training.artifacts`
describes), installed as package data.
In a clone those are links to the long run that trained the model, which
reports its curve:

  mnist    benchmarks/results/long_runs/mnist_bounded  (long_runs.md;
           bounded scales)
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

from training import artifacts, callbacks, scores

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


def header(name):
  """One line on pretrained model `name`: the test bits/dim `evaluate`
  recorded for the weights it ships, else training's held-out estimate."""
  run = run_folder(name)
  evaluation = scores.recorded(run)
  row = callbacks.best_weights_row(run)
  if evaluation and evaluation['step'] == int(row['step']):
    return (f'pretrained {name}: {scores.formatted(evaluation["mean"])} test '
            f'bits/dim on {evaluation["images"]} images (python -m training '
            f'evaluate), weights of training step {evaluation["step"]}')
  return (f'pretrained {name}: {scores.formatted(float(row["val_bpd"]))} '
          f'held-out bits/dim while training, weights of step {row["step"]}')
