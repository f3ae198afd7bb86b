"""PAC flows against their baselines: held-out bits/dim at a fixed CPU budget.

The PAC paper's Table 2 compares, at one architecture and parameter count,
the PAC coupling in raster and s-curve order with the same coupling without
the pixel-adaptive kernel ('emerging') and without convolutions
('realnvp'); its CIFAR-10 numbers are RealNVP 3.413, emerging 3.432, PAC
raster 3.337 and PAC s-curve 3.339 bits/dim. Here the four `PACFlow`
variants train for the same number of steps on full MNIST (3 seeds) and the
CIFAR-10 subset (1 seed). As in the paper, the parameter counts are matched
by the number of logistic-mixture components (those without PAC filters
get more), against PAC raster at `--components`.

Runs, resume, table and curves are those of `benchmarks.quality`.

  python -m benchmarks.pac --data ../shared/data
"""

from benchmarks import quality

TITLE = 'PAC flows: held-out bits/dim at a fixed CPU budget'
MODELS = {  # name: PACFlow options
    'pac-raster': dict(variant='pac', order='raster'),
    'pac-s-curve': dict(variant='pac', order='s-curve'),
    'emerging': dict(variant='emerging', order='raster'),
    'realnvp': dict(variant='realnvp', order='raster'),
}
DATASETS = {
    'mnist': dict(file='mnist.npz', levels=2, seeds=3, steps=600),
    'cifar10': dict(file='cifar10_subset.npz', levels=2, seeds=1, steps=300),
}
REFERENCE = 'pac-raster'
KNOB = 'components'
MODEL_SETTINGS = ('width', 'blocks', 'features', 'couplings')
CLAIMS = [
    ('PAC (raster) beats emerging convolutions (Table 2)', 'pac-raster',
     'emerging', 'better'),
    ('PAC (raster) beats RealNVP (Table 2)', 'pac-raster', 'realnvp',
     'better'),
    ('PAC s-curve matches raster order (Table 2)', 'pac-s-curve',
     'pac-raster', 'equal'),
    ('Emerging matches RealNVP (Table 2)', 'emerging', 'realnvp', 'equal'),
]


def make_flow(image_shape, model, levels, args, components):
  import tfp_invconv as ti
  padded = ti.flows.padded_image_shape(image_shape, levels + 1)
  return ti.PACFlow(padded, scales=levels, checkerboard=args.couplings,
                    channel=args.couplings, hidden_width=args.width,
                    blocks=args.blocks, features=args.features,
                    components=components, **MODELS[model])


def describe(args):
  return (f'PACFlow with 2 scales of {args.couplings} checkerboard + '
          f'{args.couplings} channel couplings (each with a 1x1 convolution '
          f'and ActNorm), gated residual conditioners of width {args.width} '
          f'and {args.blocks} block(s), {args.features} PAC features, K = 5; '
          '28 x 28 MNIST padded to 32 x 32 (bits/dim per real pixel, the '
          'padding counted). Mixture components match each model\'s '
          f'parameter count to PAC raster at {args.components}.')


def add_options(parser):
  parser.add_argument('--width', type=int, default=32)
  parser.add_argument('--blocks', type=int, default=1)
  parser.add_argument('--features', type=int, default=8)
  parser.add_argument('--couplings', type=int, default=1,
                      help='checkerboard and channel couplings per scale')
  parser.add_argument('--components', type=int, default=4,
                      help="PAC raster's mixture components")


if __name__ == '__main__':
  quality.main(suite='benchmarks.pac')
