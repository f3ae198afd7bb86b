"""The package's vector flow against TFP's RealNVP and MAF, at equal depth
and parameter count.

On the 8 x 8 digits as 64-feature vectors: TFP's `tfb.RealNVP` (half the
features masked, a ReLU MLP of two hidden layers of `--width` giving the
shift and log-scale), TFP's `tfb.MaskedAutoregressiveFlow` (a
`tfb.AutoregressiveNetwork` of two hidden layers), both with the features
reversed between steps, and this package's `SymmetricConvVectorFlow` (CONF
couplings, reversal between them); MAF's and the package's network widths
are chosen so that their parameter counts are the closest to RealNVP's.
Each flow is the generative bijector of a `tfd.TransformedDistribution`
over a standard normal, used the same way:
sampling 1,000 vectors, `log_prob` of 1,000, and one training step of 256
(-mean `log_prob`, its gradient and an Adamax update), all inside
`tf.function`, each kind of call in a fresh process on one thread, with
that process's peak resident memory; ratios are to RealNVP at the same
depth, in the same run. Then each flow trains `--steps` steps (the first
of `--depths`, batch 256, Adamax 1e-3, seed 0, the same batches and uniform
dequantization noise) on 1,500 digits and is scored on the other 297 at
four points of the run, in bits/dim of the 17-level pixels.

  python -m benchmarks.peers_vectors --threads 1
"""

from benchmarks import common, peers
from training import provenance

FEATURES = 64
LEVELS = 17  # grey levels of the digits
DIGITS = 1797  # scikit-learn's 8 x 8 digits
TRAIN_IMAGES = 1500
MODELS = ('tfb.RealNVP', 'tfb.MaskedAutoregressiveFlow',
          'SymmetricConvVectorFlow')
REFERENCE = 'tfb.RealNVP'
KINDS = ('sample', 'log_prob', 'train')


def _mlp(width, outputs):
  import tf_keras
  return tf_keras.Sequential(
      [tf_keras.layers.Dense(width, activation='relu'),
       tf_keras.layers.Dense(width, activation='relu'),
       tf_keras.layers.Dense(outputs)])


def _realnvp_step(width):
  import tensorflow as tf
  import tensorflow_probability as tfp

  class ShiftAndLogScale(tf.Module):
    """RealNVP's `shift_and_log_scale_fn`, a module so that the bijector
    tracks its network's variables."""

    def __init__(self):
      super().__init__()
      self.net = _mlp(width, 2 * (FEATURES - FEATURES // 2))

    def __call__(self, x, output_units, **unused):
      return tuple(tf.split(self.net(x), 2, axis=-1))

  return tfp.bijectors.RealNVP(num_masked=FEATURES // 2,
                               shift_and_log_scale_fn=ShiftAndLogScale())


def _maf_step(width):
  import tensorflow_probability as tfp
  tfb = tfp.bijectors
  return tfb.MaskedAutoregressiveFlow(tfb.AutoregressiveNetwork(
      params=2, hidden_units=[width, width], event_shape=[FEATURES]))


def make_flow(model, depth, width):
  """The generative-direction bijector (it owns its variables); for the
  package's flow `width` is its conditioner width."""
  import tensorflow_probability as tfp
  import tfp_invconv as ti
  tfb = tfp.bijectors
  if model == 'SymmetricConvVectorFlow':
    return ti.SymmetricConvVectorFlow(FEATURES, depth=depth,
                                      hidden_width=width)
  make_step = _realnvp_step if model == REFERENCE else _maf_step
  reverse = tfb.Permute(list(reversed(range(FEATURES))))
  layers = []
  for _ in range(depth):
    layers += [make_step(width), reverse]
  return tfb.Chain(layers[:-1])


def _distribution(flow):
  import tensorflow_probability as tfp
  tfd = tfp.distributions
  return tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), [FEATURES]), flow)


def _built(model, depth, width):
  """(flow, distribution, parameter count), its networks built."""
  import numpy as np
  import tensorflow as tf
  flow = make_flow(model, depth, width)
  dist = _distribution(flow)
  dist.log_prob(tf.zeros([1, FEATURES]))  # TFP's networks build lazily
  count = int(sum(np.prod(v.shape) for v in flow.trainable_variables))
  return flow, dist, count


def count_params(model, depth, width):
  return _built(model, depth, width)[2]


def matched_width(model, depth, reference_width):
  """`model`'s network width whose parameter count is the closest to
  RealNVP's at `reference_width`."""
  import functools
  target = count_params(REFERENCE, depth, reference_width)
  count = functools.lru_cache()(lambda w: count_params(model, depth, w))
  low, high = 1, 4 * reference_width
  while high - low > 1:  # the count grows with the width
    middle = (low + high) // 2
    if count(middle) < target:
      low = middle
    else:
      high = middle
  return min((low, high), key=lambda w: abs(count(w) - target))


def measure_here(model, depth, width, kind, batch, train_batch, repeats):
  """In this process: [first call s, median s, parameter count]."""
  import numpy as np
  import tensorflow as tf
  flow, dist, count = _built(model, depth, width)
  x = tf.constant(np.random.default_rng(0).uniform(
      -0.5, 0.5, (max(batch, train_batch), FEATURES)), tf.float32)
  if kind == 'sample':
    call = tf.function(lambda: dist.sample(batch, seed=(0, 1)))
  elif kind == 'log_prob':
    call = tf.function(lambda: dist.log_prob(x[:batch]))
  else:
    step = peers.train_step(model, dist, flow.trainable_variables)
    call = lambda: step(x[:train_batch])
  first, median = common.first_and_median(lambda: call().numpy(), repeats)
  return [first, median, count]


def digits_bits_here(model, depth, width, steps, batch, seed=0, evaluations=4):
  """In this process: [[(step, held-out bits/dim)] at `evaluations` evenly
  spaced steps up to `steps`, held-out vectors finite at the end, parameter
  count]."""
  import keras
  import numpy as np
  import tensorflow as tf
  from sklearn.datasets import load_digits
  keras.utils.set_random_seed(seed)
  pixels = load_digits().data.astype(np.float32)
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(pixels))
  train, test = pixels[order[:TRAIN_IMAGES]], pixels[order[TRAIN_IMAGES:]]
  dequantize = lambda k: tf.constant(
      (k + rng.uniform(size=k.shape)) / LEVELS - 0.5, tf.float32)
  flow, dist, count = _built(model, depth, width)
  step = peers.train_step(model, dist, flow.trainable_variables)
  held_out = dequantize(test)  # one noise draw, the same at every step
  curve = []
  for i in range(1, steps + 1):
    step(dequantize(train[rng.integers(0, len(train), batch)]))
    if i * evaluations % steps == 0:
      nats = dist.log_prob(held_out).numpy()
      bits = (FEATURES * np.log(LEVELS) - nats) / (FEATURES * np.log(2.))
      curve.append((i, float(np.mean(bits))))
  return [curve, int(np.isfinite(bits).sum()), count]


def main(argv=None):
  parser = common.make_parser(
      'peers_vectors', __doc__.split('\n')[0], batch=1000, repeats=5,
      out='benchmarks/results/peers_vectors.md')
  parser.add_argument('--train-batch', type=int, default=256)
  parser.add_argument('--depths', type=int, nargs='+', default=[8, 32])
  parser.add_argument('--width', type=int, default=256)
  parser.add_argument('--steps', type=int, default=2000)
  args, command = common.parse(parser, argv)
  table = common.ResultsTable(
      args.out, "Against TFP's RealNVP and MAF: vector flows", command,
      provenance.machine(args.threads),
      ['D', 'flow', 'width', 'parameters', f'sample {args.batch} s',
       'vs RealNVP', f'log_prob {args.batch} s', 'vs RealNVP',
       f'train step {args.train_batch} s', 'vs RealNVP',
       'peak resident GB (train)'],
      notes=[f'{FEATURES} features, float32, median of {args.repeats} calls '
             'after the first, each kind in a fresh process. MAF samples '
             f'with {FEATURES} sequential passes a step (its inverse, the '
             'density direction, takes one).'])
  widths = {}
  for depth in args.depths:
    widths[depth] = {m: args.width if m == REFERENCE
                     else matched_width(m, depth, args.width) for m in MODELS}
    seconds, peaks = {}, {}
    for model in MODELS:
      for kind in KINDS:
        (_, median, count), peak = common.call_in_process(
            args.threads, 'peers_vectors', 'measure_here', model, depth,
            widths[depth][model], kind, args.batch, args.train_batch,
            args.repeats)
        seconds[model, kind], peaks[model, kind] = median, peak
      ratio = lambda kind: (
          f'{seconds[model, kind] / seconds[REFERENCE, kind]:.2f}x')
      table.add([depth, model, widths[depth][model], f'{count:,}',
                 f'{seconds[model, "sample"]:.3f}', ratio('sample'),
                 f'{seconds[model, "log_prob"]:.3f}', ratio('log_prob'),
                 f'{seconds[model, "train"]:.3f}', ratio('train'),
                 f'{peaks[model, "train"]:.2f}'])
  depth = args.depths[0]
  for model in MODELS:
    (curve, finite, count), _ = common.call_in_process(
        args.threads, 'peers_vectors', 'digits_bits_here', model, depth,
        widths[depth][model], args.steps, args.train_batch)
    bits = ', '.join(f'{bits:.3f} at {step:,}' for step, bits in curve)
    table.add_note(
        f'Digits, D = {depth}: {model} ({count:,} parameters), held-out '
        f'bits/dim {bits} steps; {finite} of {DIGITS - TRAIN_IMAGES} held-out '
        'vectors finite at the end.')
  print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
