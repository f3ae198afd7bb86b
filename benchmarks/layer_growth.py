"""Layer by layer, how far a trained flow moves chosen test images.

For the test images at `--indices` (e.g. the worst that `evaluate --worst`
lists, beside typical ones): their bits/dim (bin-centre dequantization) and,
for every layer in the normalizing direction, the largest |value| of its
output. Where an atypical image's values leave the range typical ones stay
in, and which layers multiply them, is the trace of an outlying bits/dim.

  python -m benchmarks.layer_growth --run benchmarks/results/mnist_bounded_step22512 \\
      --data ../shared/data/mnist.npz --indices 9421 3644 0 1
"""

import os

import numpy as np

from benchmarks import atypical
from benchmarks import common
from training import provenance


def main(argv=None):
  parser = common.make_parser('layer_growth', __doc__.split('\n')[0],
                              batch=100)
  common.add_model_source(parser)
  parser.add_argument('--data', required=True,
                      help='.npz holding the x_test images')
  parser.add_argument('--indices', type=int, nargs='+', required=True,
                      help='test images to trace')
  args, command = common.parse(parser, argv)
  model = common.load_model(args)
  with np.load(args.data) as arrays:
    test = arrays['x_test']
  images = test[args.indices]
  images = images[..., None] if images.ndim == 3 else images
  bpd = np.asarray(model.bits_per_dim(images, noise='center'))
  x = model.dequantize(images, 'center')
  steps, _ = atypical.layer_trace(model.flow.bijectors[0].bijector, x)
  name = args.pretrained or os.path.basename(os.path.normpath(args.run))
  out = args.out or f'benchmarks/results/layer_growth_{name}.md'
  rows = [['bits/dim'] + [f'{b:.4g}' for b in bpd],
          ['input'] + [f'{v:.3g}' for v in np.max(
              np.abs(np.reshape(x, [len(images), -1])), axis=1)]]
  rows += [[layer] + [f'{v:.3g}' for v in largest] for layer, largest in steps]
  common.write_markdown(
      out, 'Largest |value| after each layer, normalizing direction',
      command, provenance.machine(args.threads),
      ['layer'] + [f'test image {i}' for i in args.indices], rows,
      notes=['Bin-centre dequantization; the rows follow the layers in the '
             'normalizing direction (`benchmarks.atypical.layer_trace`).'])
  print(f'wrote {out}')


if __name__ == '__main__':
  main()
