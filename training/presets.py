"""Model configurations: the CInC paper's and a small demo."""


def _paper(levels, depth, warmup_steps):
  """The CInC paper's Fig. 3 model: CInC convolutions, Quad-coupling."""
  return dict(levels=levels, depth=depth, hidden_width=512, conv='cinc',
              coupling='quad', batch_size=64, lr=1e-3,
              warmup_steps=warmup_steps)


PRESETS = {
    # Embedded 8 x 8 digits: trains in a couple of minutes on 2 CPU cores.
    'demo': dict(levels=2, depth=4, hidden_width=64, conv='cinc',
                 coupling='quad', batch_size=64, lr=2e-3, warmup_steps=50),
    # Karami et al.'s image flow (symmetric conv + CONF) at demo size.
    'conf_demo': dict(levels=2, depth=4, hidden_width=64, conv='symmetric',
                      coupling='conf', batch_size=64, lr=2e-3,
                      warmup_steps=50),
    # CInC paper §4: CIFAR-10, ImageNet 32 / 64.
    'cifar10': _paper(3, 32, 5000),
    'imagenet32': _paper(3, 48, 5000),
    'imagenet64': _paper(4, 48, 5000),
    # The small models of the paper's Table 3.
    'small_d4': _paper(3, 4, 1000),
    'small_d8': _paper(3, 8, 1000),
}

MODEL_KEYS = ('levels', 'depth', 'hidden_width', 'conv', 'coupling')


def get(name, **overrides):
  """A preset with command-line overrides (None values are ignored)."""
  if name not in PRESETS:
    raise ValueError(f'unknown preset {name!r}; choose from {sorted(PRESETS)}')
  config = dict(PRESETS[name])
  config.update({k: v for k, v in overrides.items() if v is not None})
  return config
