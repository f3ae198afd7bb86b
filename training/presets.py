"""Model configurations: the CInC paper's and a small demo."""

PRESETS = {
    # Embedded 8 x 8 digits: trains in a couple of minutes on 2 CPU cores.
    'demo': dict(levels=2, depth=4, hidden_width=64, conv='cinc',
                 coupling='quad', batch_size=64, lr=2e-3, warmup_steps=50),
    # CInC paper §4 (Fig. 3 architecture): CIFAR-10, ImageNet 32 / 64.
    'cifar10': dict(levels=3, depth=32, hidden_width=512, conv='cinc',
                    coupling='quad', batch_size=64, lr=1e-3,
                    warmup_steps=5000),
    'imagenet32': dict(levels=3, depth=48, hidden_width=512, conv='cinc',
                       coupling='quad', batch_size=64, lr=1e-3,
                       warmup_steps=5000),
    'imagenet64': dict(levels=4, depth=48, hidden_width=512, conv='cinc',
                       coupling='quad', batch_size=64, lr=1e-3,
                       warmup_steps=5000),
    # The small models of the paper's Table 3.
    'small_d4': dict(levels=3, depth=4, hidden_width=512, conv='cinc',
                     coupling='quad', batch_size=64, lr=1e-3,
                     warmup_steps=1000),
    'small_d8': dict(levels=3, depth=8, hidden_width=512, conv='cinc',
                     coupling='quad', batch_size=64, lr=1e-3,
                     warmup_steps=1000),
}

MODEL_KEYS = ('levels', 'depth', 'hidden_width', 'conv', 'coupling')


def get(name, **overrides):
  """A preset with command-line overrides (None values are ignored)."""
  if name not in PRESETS:
    raise ValueError(f'unknown preset {name!r}; choose from {sorted(PRESETS)}')
  config = dict(PRESETS[name])
  config.update({k: v for k, v in overrides.items() if v is not None})
  return config
