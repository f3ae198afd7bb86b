"""Training steps per second of whole flows, relative to Glow.

For each conv in {1x1 (Glow), emerging, cinc} x coupling in {affine, quad}:
the median time of one optimizer step (forward, log-det, gradients, Adamax
update) on a batch of CIFAR-10-shaped images, after a warm-up, and its ratio
to Glow with the same coupling in the same run.

  python -m benchmarks.throughput --threads 1 --arch cifar10
"""

import numpy as np

from benchmarks import common
from training import provenance
from benchmarks.sampling import ARCHS, IMAGE, every_model, grid_options


def measure(arch, conv, coupling, batch, repeats):
  import keras
  import tensorflow as tf
  import tfp_invconv as ti
  from tfp_invconv.model import FlowModel
  model = FlowModel(ti.CInCFlow(IMAGE, conv=conv, coupling=coupling,
                                **ARCHS[arch]))
  model.compile(optimizer=keras.optimizers.Adamax(1e-3))
  pixels = np.random.default_rng(0).integers(0, 256, (batch,) + IMAGE,
                                             dtype=np.uint8)
  model.initialize(pixels)
  model.optimizer.build(model.trainable_variables)
  step = tf.function(model.train_step)
  batch_tensor = tf.constant(pixels)
  return common.median_seconds(lambda: float(step(batch_tensor)['bpd']),
                               repeats, warmup=1)


def main(argv=None):
  args, command, out = grid_options('throughput', __doc__.split('\n')[0],
                                    64, argv)
  table = common.ResultsTable(
      out, 'Training throughput', command,
      provenance.machine(args.threads),
      ['arch', 'conv', 'coupling', 's / step', 'steps / s',
       'step time vs Glow'],
      notes=[f'Batch {args.batch}, float32, one Adamax step of '
             '`FlowModel.train_step` inside `tf.function`, median of '
             f'{args.repeats} after one warm-up.'])
  for arch, conv, coupling, t, glow in every_model(args, measure):
    table.add([arch, conv, coupling, f'{t:.2f}', f'{1 / t:.3f}',
               f'{t / glow:.2f}'])
  print(f'wrote {out}')


if __name__ == '__main__':
  main()
