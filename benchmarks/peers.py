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

With `--mnist FILE`, instead: the three flows at MNIST size (2 levels of
D = 4 steps, width 128) train with that same step for `--steps` steps
(batch 64, Adamax 1e-3, uniform dequantization, seed 0; this package's
ActNorms initialised from the first batch, as TFP's initialise themselves)
and report bits/dim on the 10,000 test images.

  python -m benchmarks.peers --threads 1
  python -m benchmarks.peers --threads 1 --mnist DIR/mnist.npz --out benchmarks/results/peers_mnist.md
"""

from benchmarks import common
from training import provenance

IMAGE = (32, 32, 3)
LEVELS = 3
WIDTH = 512
MNIST = dict(image=(28, 28, 1), levels=2, depth=4, width=128)
MODELS = ('tfb.Glow', 'GlowFlow', 'CInCFlow')
KINDS = ('sample', 'log_prob', 'train')


def make_flow(model, depth, image=IMAGE, levels=LEVELS, width=WIDTH):
  """The generative-direction bijector (it owns its variables)."""
  import tensorflow_probability as tfp
  import tfp_invconv as ti
  tfb = tfp.bijectors
  if model == 'tfb.Glow':
    return tfb.Glow(
        output_shape=image, num_glow_blocks=levels,
        num_steps_per_block=depth,
        coupling_bijector_fn=lambda shape: tfb.GlowDefaultNetwork(
            shape, num_hidden=width),
        exit_bijector_fn=tfb.GlowDefaultExitNetwork,
        grab_after_block=(0.5,) * levels)
  make = ti.GlowFlow if model == 'GlowFlow' else ti.CInCFlow
  options = {} if model == 'GlowFlow' else dict(conv='cinc',
                                                 coupling='affine')
  return make(image, levels=levels, depth=depth, hidden_width=width,
              **options)


def _distribution(flow, image):
  import tensorflow_probability as tfp
  tfd = tfp.distributions
  return tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), flow.inverse_event_shape(image)), flow)


def train_step(model, dist, variables):
  """-mean log_prob of a batch, its gradient and an Adamax update."""
  import tensorflow as tf
  optimizer = _optimizer(model)

  @tf.function
  def step(images):
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(dist.log_prob(images))
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss
  return step


def _optimizer(model):
  """Adamax for the flow's variables: TFP's networks ('tfb.' models) are
  tf.keras layers, this package's are Keras 3 layers; each gets its own
  Keras' Adamax."""
  if model.startswith('tfb.'):
    import tf_keras
    return tf_keras.optimizers.Adamax(1e-3)
  import keras
  return keras.optimizers.Adamax(1e-3)


def measure_here(model, depth, kind, batch, train_batch, repeats):
  """In this process: [first call s, median s] of one kind of call, and
  the flow's parameter count."""
  import numpy as np
  import tensorflow as tf
  flow = make_flow(model, depth)
  dist = _distribution(flow, IMAGE)
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
    step = train_step(model, dist, variables)
    call = lambda: step(images[:train_batch])
  first, median = common.first_and_median(lambda: call().numpy(), repeats)
  return [first, median, count]


def mnist_bits_here(model, path, steps, batch=64, seed=0, progress_every=0):
  """In this process: test bits/dim after `steps` training steps, and the
  parameter count; with `progress_every`, a 'step i/steps ' line every that
  many steps (what the memory soak reads)."""
  import keras
  import numpy as np
  import tensorflow as tf
  from tfp_invconv import bijectors as tfib
  keras.utils.set_random_seed(seed)
  with np.load(path) as arrays:
    train, test = arrays['x_train'][..., None], arrays['x_test'][..., None]
  spec = MNIST
  flow = make_flow(model, spec['depth'], spec['image'], spec['levels'],
                   spec['width'])
  dist = _distribution(flow, spec['image'])
  rng = np.random.default_rng(seed)
  dequantize = lambda pixels: tf.constant(
      (pixels + rng.uniform(size=pixels.shape)) / 256., tf.float32)
  first = dequantize(train[:batch])
  actnorms = [b for b in tfib.base.walk_bijectors(flow)
              if isinstance(b, tfib.ActNorm)]
  with tfib.actnorm.data_dependent_init(actnorms):
    dist.log_prob(first)
  variables = flow.trainable_variables
  step = train_step(model, dist, variables)
  for i in range(steps):
    chosen = rng.integers(0, len(train), batch)
    step(dequantize(train[chosen]))
    if progress_every and (i + 1) % progress_every == 0:
      print(f'step {i + 1}/{steps} ', flush=True)
  log_prob = tf.function(dist.log_prob)
  nats = np.concatenate([log_prob(dequantize(test[i:i + 500])).numpy()
                         for i in range(0, len(test), 500)])
  dims = np.prod(spec['image'])
  bits = (dims * np.log(256.) - nats) / (dims * np.log(2.))
  count = int(sum(np.prod(v.shape) for v in variables))
  return [float(bits.mean()), int(np.isfinite(bits).sum()), count]


def mnist_main(args, command):
  table = common.ResultsTable(
      args.out, "Against TFP's tfb.Glow: MNIST bits/dim at equal steps",
      command, provenance.machine(args.threads),
      ['flow', 'parameters', f'test bits/dim after {args.steps:,} steps',
       'finite test images'],
      notes=[f"MNIST, {MNIST['levels']} levels of D = {MNIST['depth']} "
             f"steps, width {MNIST['width']}; batch 64, Adamax 1e-3, uniform "
             'dequantization, seed 0, each flow in a fresh process on the '
             'same batches and noise; bits/dim over the 10,000 test images '
             '(one uniform draw).'])
  for model in MODELS:
    (bits, finite, count), _ = common.call_in_process(
        args.threads, 'peers', 'mnist_bits_here', model, args.mnist,
        args.steps)
    table.add([model, f'{count:,}', f'{bits:.4f}', f'{finite:,}'])
  print(f'wrote {args.out}')


def measure(model, depth, kind, args):
  """`measure_here` in a fresh process: (its result, peak resident GB)."""
  return common.call_in_process(args.threads, 'peers', 'measure_here', model,
                                depth, kind, args.batch, args.train_batch,
                                args.repeats)


def main(argv=None):
  parser = common.make_parser(
      'peers', __doc__.split('\n')[0], batch=100, repeats=3,
      out='benchmarks/results/peers.md')
  parser.add_argument('--train-batch', type=int, default=64)
  parser.add_argument('--depths', type=int, nargs='+', default=[8, 32])
  parser.add_argument('--mnist', default=None,
                      help='mnist.npz: compare bits/dim after --steps steps')
  parser.add_argument('--steps', type=int, default=1000)
  args, command = common.parse(parser, argv)
  if args.mnist:
    return mnist_main(args, command)
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
