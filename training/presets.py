"""Model configurations: the CInC paper's sizes, PAC flows and small demos.

`model` is 'cinc' (`CInCFlow`, the default) or 'pac' (`PACFlow`, whose
`levels` are its scales).

`centre` names the CInC centre tap: 'lu' (the package's default, a full
invertible matrix) or 'triangular' (the paper's reference model: ActNorm ->
CInC with a triangular centre -> coupling, no 1x1). The `*_paper` presets
reproduce the paper's model exactly; the others use the LU centre.
"""


def _paper(levels, depth, warmup_steps, centre='lu'):
  """The CInC paper's Fig. 3 model: CInC convolutions, Quad-coupling."""
  return dict(levels=levels, depth=depth, hidden_width=512, conv='cinc',
              centre=centre, coupling='quad', batch_size=64, lr=1e-3,
              warmup_steps=warmup_steps)


def _pac(**overrides):
  config = dict(model='pac', levels=2, hidden_width=64, blocks=2,
                checkerboard=3, channel=3, variant='pac', order='raster',
                kernel_size=5, features=16, components=4, batch_size=64,
                lr=1e-3, warmup_steps=500)
  config.update(overrides)
  return config


PRESETS = {
    # Embedded 8 x 8 digits: trains in a couple of minutes on 2 CPU cores.
    'demo': dict(levels=2, depth=4, hidden_width=64, conv='cinc',
                 centre='lu', coupling='quad', batch_size=64, lr=2e-3, warmup_steps=50),
    # Karami et al.'s image flow (symmetric conv + CONF) at demo size.
    'conf_demo': dict(levels=2, depth=4, hidden_width=64, conv='symmetric',
                      centre='lu', coupling='conf', batch_size=64, lr=2e-3,
                      warmup_steps=50),
    # CInC paper §4: CIFAR-10, ImageNet 32 / 64.
    'cifar10': _paper(3, 32, 5000),
    'imagenet32': _paper(3, 48, 5000),
    'imagenet64': _paper(4, 48, 5000),
    'cifar10_paper': _paper(3, 32, 5000, centre='triangular'),
    'imagenet32_paper': _paper(3, 48, 5000, centre='triangular'),
    'imagenet64_paper': _paper(4, 48, 5000, centre='triangular'),
    # The long runs (benchmarks/long_runs.py): the best model of the quality
    # benchmark per dataset, at a size one CPU core trains for hours.
    'mnist_conf': dict(levels=3, depth=8, hidden_width=64, conv='symmetric',
                       centre='lu', coupling='conf', batch_size=64, lr=1e-3,
                       warmup_steps=1000),
    # Its successor on the bounded defaults: unpadded 28 x 28 (2 levels) and
    # twice the width, 0.46 s a step on one core.
    'mnist_conf_wide': dict(levels=2, depth=8, hidden_width=128,
                            conv='symmetric', centre='lu', coupling='conf',
                            batch_size=64, lr=1e-3, warmup_steps=1000),
    'cifar10_emerging': dict(levels=3, depth=8, hidden_width=128,
                             conv='emerging', centre='lu', coupling='affine',
                             batch_size=64, lr=1e-3, warmup_steps=1000),
    # PAC flows (Cooper & Tomczak): 3 checkerboard + 3 channel couplings
    # per scale; a demo size and a CPU-sized MNIST / CIFAR-10 model.
    'pac_demo': _pac(hidden_width=32, blocks=1, checkerboard=1, channel=1,
                     features=8, components=4, lr=2e-3, warmup_steps=50),
    'pac_mnist': _pac(),
    'pac_cifar10': _pac(hidden_width=96),
    # The small models of the paper's Table 3.
    'small_d4': _paper(3, 4, 1000),
    'small_d8': _paper(3, 8, 1000),
}

MODELS = ('cinc', 'pac')
CINC_KEYS = ('levels', 'depth', 'hidden_width', 'conv', 'centre', 'coupling',
             'scale', 'log_scale_bound', 'conf_growth')
PAC_KEYS = ('levels', 'hidden_width', 'blocks', 'checkerboard', 'channel',
            'variant', 'order', 'kernel_size', 'features', 'components')
MODEL_KEYS = ('model',) + CINC_KEYS + tuple(
    k for k in PAC_KEYS if k not in CINC_KEYS)
# Runs saved before these were options: CInC flows with the triangular
# centre and unbounded scales.
MODEL_DEFAULTS = {'model': 'cinc', 'centre': 'triangular', 'scale': 'sigmoid',
                  'log_scale_bound': 2., 'conf_growth': 'power'}
# What a new run gets when neither the preset nor the command line says.
NEW_RUN_DEFAULTS = {'scale': 'tanh', 'log_scale_bound': 2.,
                    'conf_growth': 'bounded'}


def model_options(config):
  """'model' and the flow's keyword arguments, from a run's configuration."""
  model = config.get('model', MODEL_DEFAULTS['model'])
  keys = PAC_KEYS if model == 'pac' else CINC_KEYS
  return dict({k: config.get(k, MODEL_DEFAULTS.get(k)) for k in keys},
              model=model)


def get(name, **overrides):
  """A preset with command-line overrides (None values are ignored)."""
  if name not in PRESETS:
    raise ValueError(f'unknown preset {name!r}; choose from {sorted(PRESETS)}')
  config = dict(NEW_RUN_DEFAULTS, **PRESETS[name])
  config.update({k: v for k, v in overrides.items() if v is not None})
  return config
