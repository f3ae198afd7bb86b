"""A trained flow's test bits/dim under its normal base and Student's t bases.

The same weights, only the base changed (`FlowModel(base_df=...)`): every
test image scored as `evaluate` scores it, and the mean, the median, the
mean without the `--drop` worst images and the worst images themselves.
It shows whether a heavier-tailed base keeps a few test images that the
flow maps far out from deciding the mean, and what it costs the typical
image before any training under it.

  python -m benchmarks.heavy_tails --run benchmarks/results/long_runs/mnist_bounded \\
      --dataset ../shared/data/mnist.npz --dfs 5 10 30 100
"""

import os

import numpy as np

from benchmarks import common
from training import provenance


def scores(model, test, df):
  """Per-image bits/dim of the model's flow under the base of `df`."""
  from tfp_invconv.model import FlowModel
  from training import data
  variant = FlowModel(model.flow, num_levels=model.num_levels, seed=0,
                      pixel_shape=model.pixel_shape, base_df=df)
  return data.bits_per_dim_per_image(variant, test)


def main(argv=None):
  parser = common.make_parser('heavy_tails', __doc__.split('\n')[0],
                              batch=256)
  common.add_model_source(parser)
  parser.add_argument('--dataset', required=True,
                      help='the test data (an .npz or a tfds name)')
  parser.add_argument('--dfs', type=float, nargs='+', default=[5, 10, 30])
  parser.add_argument('--drop', type=int, default=2,
                      help='the worst images left out of one mean')
  args, command = common.parse(parser, argv)
  from training import data
  model = common.load_model(args)
  test = data.load(args.dataset, 'test')
  name = args.pretrained or os.path.basename(os.path.normpath(args.run))
  out = args.out or f'benchmarks/results/heavy_tails_{name}.md'
  table = common.ResultsTable(
      out, "Test bits/dim under the normal base and Student's t bases",
      command, provenance.machine(args.threads),
      ['base', 'mean', 'median', f'mean without the {args.drop} worst',
       'worst images (test index: bits/dim)'],
      notes=['The same trained weights under each base, uniform '
             'dequantization as `evaluate` scores them, every test image.'])
  for df in [None] + args.dfs:
    bpd = scores(model, test, df)
    worst = np.argsort(-bpd)[:3]
    table.add(['normal' if df is None else f't, df = {df:g}',
               f'{np.mean(bpd):.4g}', f'{np.median(bpd):.4f}',
               f'{np.mean(np.sort(bpd)[:-args.drop]):.4f}',
               ', '.join(f'{i}: {bpd[i]:.4g}' for i in worst)])
  print(f'wrote {out}')


if __name__ == '__main__':
  main()
