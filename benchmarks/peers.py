"""The package against TensorFlow Probability's own Glow, at equal architecture.

At CIFAR-10 shape (32 x 32 x 3), 3 levels of D steps, coupling networks of
width 512: TFP's `tfb.Glow` (its default coupling and exit networks with
`num_hidden=512`), this package's `GlowFlow` (ActNorm, 1x1, affine
coupling: the same step) and `CInCFlow` (the CInC convolution in place of
the 1x1). Each is a generative bijector in
`tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0, 1), latent), flow)`,
used the same way: sampling 100 images, `log_prob` of 100, and one
training step of 64 (-mean `log_prob` of dequantized pixels in [0, 1], its
gradient and an Adamax update), all inside `tf.function`, each kind of
call in a fresh process on one thread, with that process's peak resident
memory. Ratios are to `tfb.Glow` at the same depth, in the same run.

  python -m benchmarks.peers --threads 1
"""

from benchmarks import common
from training import provenance

IMAGE = (32, 32, 3)
LEVELS = 3
WIDTH = 512
MODELS = ('tfb.Glow', 'GlowFlow', 'CInCFlow')
KINDS = ('sample', 'log_prob', 'train')


def make_flow(model, depth):
  """The generative-direction bijector and its trainable variables' owner."""
  import tensorflow_probability as tfp
  import tfp_invconv as ti
  tfb = tfp.bijectors
  if model == 'tfb.Glow':
    return tfb.Glow(
        output_shape=IMAGE, num_glow_blocks=LEVELS,
        num_steps_per_block=depth,
        coupling_bijector_fn=lambda shape: tfb.GlowDefaultNetwork(
            shape, num_hidden=WIDTH),
        exit_bijector_fn=tfb.GlowDefaultExitNetwork)
  make = ti.GlowFlow if model == 'GlowFlow' else ti.CInCFlow
  options = {} if model == 'GlowFlow' else dict(conv='cinc',
                                                 coupling='affine')
  return make(IMAGE, levels=LEVELS, depth=depth, hidden_width=WIDTH,
              **options)


def _optimizer(model):
  """Adamax for the flow's variables: TFP's networks are tf.keras layers,
  this package's are Keras 3 layers; each gets its own Keras' Adamax."""
  if model == 'tfb.Glow':
    import tf_keras
    return tf_keras.optimizers.Adamax(1e-3)
  import keras
  return keras.optimizers.Adamax(1e-3)


def measure_here(model, depth, kind, batch, train_batch, repeats):
  """In this process: [first call s, median s] of one kind of call, and
  the flow's parameter count."""
  import numpy as np
  import tensorflow as tf
  import tensorflow_probability as tfp
  tfd = tfp.distributions
  flow = make_flow(model, depth)
  latent = flow.inverse_event_shape(IMAGE)
  dist = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), latent), flow)
  rng = np.random.default_rng(0)
  pixels = (rng.integers(0, 256, (max(batch, train_batch),) + IMAGE)
            + rng.uniform(size=(max(batch, train_batch),) + IMAGE)) / 256.
  images = tf.constant(pixels, tf.float32)
  dist.log_prob(images[:1])  # builds TFP's lazily created networks
  variables = flow.trainable_variables
  count = int(sum(np.prod(v.shape) for v in variables))
  if kind == 'sample':
    call = tf.function(lambda: dist.sample(batch, seed=(0, 1)))
  elif kind == 'log_prob':
    call = tf.function(lambda: dist.log_prob(images[:batch]))
  else:
    optimizer = _optimizer(model)

    @tf.function
    def call():
      with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(dist.log_prob(images[:train_batch]))
      optimizer.apply_gradients(zip(tape.gradient(loss, variables),
                                    variables))
      return loss
  first, median = common.first_and_median(lambda: call().numpy(), repeats)
  return [first, median, count]


def measure(model, depth, kind, args):
  """`measure_here` in a fresh process: (its result, peak resident GB)."""
  code = ('import json; from benchmarks import common, peers; '
          f'common.set_threads({args.threads}); '
          'print(json.dumps(peers.measure_here('
          f'{model!r}, {depth}, {kind!r}, {args.batch}, {args.train_batch}, '
          f'{args.repeats})))')
  return common.run_python(code)


def main(argv=None):
  parser = common.make_parser(
      'peers', __doc__.split('\n')[0], batch=100, repeats=3,
      out='benchmarks/results/peers.md')
  parser.add_argument('--train-batch', type=int, default=64)
  parser.add_argument('--depths', type=int, nargs='+', default=[8, 32])
  args, command = common.parse(parser, argv)
  table = common.ResultsTable(
      args.out, "Against TFP's tfb.Glow", command,
      provenance.machine(args.threads),
      ['D', 'flow', 'parameters', 'sample 100 s', 'vs tfb.Glow',
       'log_prob 100 s', 'vs tfb.Glow', 'train step 64 s', 'vs tfb.Glow',
       'peak resident GB (train)'],
      notes=[f'CIFAR-10 shape, {LEVELS} levels, width {WIDTH}, float32, '
             f'median of {args.repeats} calls after the first, each kind in '
             'a fresh process. Train step: -mean log_prob, its gradient and '
             'an Adamax update (lr 1e-3) inside `tf.function`. The bar: '
             "this package's train step <= 0.6x tfb.Glow's."])
  for depth in args.depths:
    seconds, peaks = {}, {}
    for model in MODELS:
      for kind in KINDS:
        (first, median, count), peak = measure(model, depth, kind, args)
        seconds[model, kind], peaks[model, kind] = median, peak
      ratio = lambda kind: (
          f'{seconds[model, kind] / seconds["tfb.Glow", kind]:.2f}x')
      table.add([depth, model, f'{count:,}',
                 f'{seconds[model, "sample"]:.2f}', ratio('sample'),
                 f'{seconds[model, "log_prob"]:.2f}', ratio('log_prob'),
                 f'{seconds[model, "train"]:.2f}', ratio('train'),
                 f'{peaks[model, "train"]:.1f}'])
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
