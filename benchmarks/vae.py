"""Flows as VAE posteriors on binarized MNIST (Karami et al., Table 2).

One encoder and decoder (MLPs) and three posteriors q(z | x):
  gaussian  N(mu(x), sigma(x));
  iaf       the Gaussian through F inverse autoregressive flows, TFP's
            `MaskedAutoregressiveFlow` inverted, conditioned on h(x), with
            the numerically stable update of Kingma et al. (2016): scale
            sigmoid(r + 2), shift m, so z = sigmoid(r + 2) z + m;
  conf      the Gaussian through `SymmetricConvVectorFlow` (F CONF couplings
            of m sub-layers, features reversed between them) with context
            h(x);
  conf_lu   the same with a learned LU-parametrised linear map between the
            couplings (`mixing='lu'`) instead of the reversal;
  conf_elu  conf with ELU conditioners in place of ReLU ones (most ReLU
            units of trained conf conditioners are dead: vae.md).
h(x) is a feature vector the encoder outputs beside mu and sigma. Training
binarizes every batch afresh (pixel p is 1 with probability p / 255); the
test set is binarized once, with a fixed seed.

Reported on the test set: -ELBO (nats, `--elbo-samples` per image, all
10,000 images) and the importance-weighted NLL with `--iw-samples` samples
on the first `--iw-images` test images, with its standard error over those
images; NLL <= -ELBO up to that error, since the IWAE bound is tighter.
How each posterior is used, on the first `--curve-images` test images
(10 samples each): the ELBO's rate E[log q(z|x) - log p(z)] (nats the code
carries) and distortion -E[log p(x|z)] (Alemi et al. 2018), and, for flows,
the median of ||f(z0) - z0|| / ||sigma(x)|| (how far the flow moves a
Gaussian sample, in units of the Gaussian's spread) and the mean log-det
of f; for CONF, how much of their range the sub-layers use (the fraction of
scales s within 10% of `max_scale`, the mean |log s| and |log w|, and the
fraction of the conditioners' last hidden units still live: with a slope
above 1e-3 for some input).

Each run (posterior, seed) saves its result as JSON and checkpoints every
`--eval-every` steps under `<runs>/partial/`, so the benchmark resumes
(benchmarks/runs.py). A finished run keeps its checkpoint: the refits start
from the Gaussian's, and new evaluation settings re-evaluate it.

  python -m benchmarks.vae --data ../shared/data
"""

import math
import os
import time

import numpy as np

from benchmarks import common, runs
from training import provenance

POSTERIORS = ('gaussian', 'iaf', 'conf', 'conf_lu', 'conf_elu')
PIXELS = 784


def _binarized(images, rng):
  return (rng.uniform(size=images.shape) < images / 255.).astype(np.float32)


class VAE:
  """Encoder, decoder and posterior; every weight in `variables`."""

  def __init__(self, posterior, args):
    import keras
    import tensorflow_probability as tfp
    import tfp_invconv as ti
    tfb = tfp.bijectors
    dense = lambda n, **kw: keras.layers.Dense(n, **kw)
    self.args, self.posterior = args, posterior
    self.encoder = keras.Sequential(
        [dense(args.hidden, activation='softplus'),
         dense(args.hidden, activation='softplus'),
         dense(2 * args.latents + args.context)])
    self.decoder = keras.Sequential(
        [dense(args.hidden, activation='softplus'),
         dense(args.hidden, activation='softplus'), dense(PIXELS)])
    self.encoder.build((None, PIXELS))
    self.decoder.build((None, args.latents))
    self.flow, self._flow_networks = None, []
    if posterior == 'iaf':
      layers = []
      for f in range(args.flows):
        made = tfb.AutoregressiveNetwork(
            params=2, event_shape=[args.latents], conditional=True,
            conditional_event_shape=[args.context],
            hidden_units=[args.iaf_width, args.iaf_width])
        self._flow_networks.append(made)
        layers += [tfb.Invert(tfb.MaskedAutoregressiveFlow(
                       bijector_fn=_stable_affine(made)), name=f'iaf{f}'),
                   tfb.Permute(list(reversed(range(args.latents))),
                               name=f'reverse{f}')]
      self.flow = tfb.Chain(list(reversed(layers)))
      self.flow.forward(tf_zeros(args.latents), **self._kwargs(
          tf_zeros(args.context)))  # builds the MADEs
    elif posterior.startswith('conf'):
      self.flow = ti.SymmetricConvVectorFlow(
          args.latents, depth=args.flows, hidden_width=args.conf_width,
          conf_layers=args.conf_layers, context_features=args.context,
          growth='power',  # the bound the reported runs were trained with
          mixing='lu' if posterior == 'conf_lu' else 'reverse',
          activation='elu' if posterior == 'conf_elu' else 'relu')
      self.flow.forward(tf_zeros(args.latents),
                        context=tf_zeros(args.context))

  def _kwargs(self, context):
    if self.posterior == 'iaf':
      return {f'iaf{f}': {'conditional_input': context}
              for f in range(self.args.flows)}
    return {'context': context}

  @property
  def flow_variables(self):
    """The posterior flow's weights (the MADEs' for IAF, which TFP's
    bijector_fn does not track)."""
    if self._flow_networks:
      return [v for net in self._flow_networks
              for v in net.trainable_variables]
    return list(self.flow.trainable_variables) if self.flow else []

  @property
  def fixed_variables(self):
    """The flow's weights that training leaves alone but the model needs
    (the LU mixing's permutation and signs)."""
    if self.flow is None or self._flow_networks:
      return []
    return [v for v in self.flow.variables if not v.trainable]

  @property
  def variables(self):
    return ([w.value for w in self.encoder.trainable_weights
             + self.decoder.trainable_weights] + self.flow_variables)

  def flow_parameters(self):
    return int(sum(np.prod(v.shape) for v in self.flow_variables))

  def gaussian_and_context(self, x):
    """The Gaussian N(mu(x), sigma(x)) the posterior starts from, and h(x)."""
    import tensorflow as tf
    import tensorflow_probability as tfp
    latents = self.args.latents
    mean, raw_scale, context = tf.split(
        self.encoder(x), [latents, latents, self.args.context], axis=-1)
    return tfp.distributions.MultivariateNormalDiag(
        mean, tf.nn.softplus(raw_scale) + 1e-4), context

  def posterior_distribution(self, x):
    """q(z | x) and the keyword arguments its sample/log_prob take."""
    import tensorflow_probability as tfp
    base, context = self.gaussian_and_context(x)
    if self.flow is None:
      return base, {}
    return (tfp.distributions.TransformedDistribution(base, self.flow),
            {'bijector_kwargs': self._kwargs(context)})

  def log_weights(self, x, samples, seed):
    """log p(x, z) - log q(z | x) for `samples` z ~ q per image: [S, B]."""
    log_likelihood, log_q_over_prior = self.distortion_and_rate_terms(
        x, samples, seed)
    return log_likelihood - log_q_over_prior

  def distortion_and_rate_terms(self, x, samples, seed):
    """(log p(x | z), log q(z | x) - log p(z)) for `samples` z ~ q per
    image, each [S, B]: their means are minus the distortion and the rate
    (the KL term) of the ELBO."""
    import tensorflow as tf
    import tensorflow_probability as tfp
    tfd = tfp.distributions
    latents = self.args.latents
    q, kwargs = self.posterior_distribution(x)
    z, log_q = q.experimental_sample_and_log_prob(samples, seed=seed, **kwargs)
    prior = tfd.MultivariateNormalDiag(tf.zeros([latents]))
    logits = self.decoder(tf.reshape(z, [-1, latents]))
    likelihood = tfd.Independent(tfd.Bernoulli(
        logits=tf.reshape(logits, [samples, -1, PIXELS])), 1)
    return likelihood.log_prob(x), log_q - prior.log_prob(z)


def _stable_affine(made):
  """z -> sigmoid(r + 2) z + m with (m, r) from the MADE."""
  import tensorflow as tf
  import tensorflow_probability as tfp
  tfb = tfp.bijectors

  def bijector_fn(x, **kwargs):
    shift, raw = tf.unstack(made(x, **kwargs), axis=-1)
    return tfb.Shift(shift)(tfb.Scale(log_scale=tf.math.log_sigmoid(
        raw + 2.)))
  return bijector_fn


def tf_zeros(size):
  import tensorflow as tf
  return tf.zeros([1, size])


def _checkpoint(vae, optimizer, step):
  import tensorflow as tf
  return tf.train.Checkpoint(
      variables=vae.variables, fixed_variables=vae.fixed_variables,
      optimizer_variables=optimizer.variables, step=step)


def _train_step(vae, optimizer, variables):
  """A compiled step of -ELBO (one sample per image) on `variables`."""
  import tensorflow as tf

  @tf.function
  def train_step(x, seed):
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(vae.log_weights(x, 1, seed))
    optimizer.apply(tape.gradient(loss, variables), variables)
    return loss
  return train_step


def _batch(train, args, rng):
  import tensorflow as tf
  return tf.constant(_binarized(
      train[rng.integers(0, len(train), args.batch)], rng))


def _elbo_fn(vae, args):
  """x, seed -> the ELBO per image, averaged over `--elbo-samples`."""
  import tensorflow as tf
  return tf.function(lambda x, seed: tf.reduce_mean(
      vae.log_weights(x, args.elbo_samples, seed), axis=0))


def _test_neg_elbo(elbo, test, seed):
  import tensorflow as tf
  return -float(np.mean(np.concatenate([
      elbo(test[i:i + 500], tf.constant([seed, 1])).numpy()
      for i in range(0, len(test), 500)])))


def train_one(args, posterior, seed, train, test):
  """Trains one VAE, resuming from its partial checkpoint; returns the
  result dict."""
  import keras
  import tensorflow as tf
  keras.utils.set_random_seed(seed)
  vae = VAE(posterior, args)
  optimizer = keras.optimizers.Adam(args.lr)
  optimizer.build(vae.variables)
  step = tf.Variable(0, dtype=tf.int64)
  run = _run(args, posterior, seed)
  manager = tf.train.CheckpointManager(_checkpoint(vae, optimizer, step),
                                       run.partial, max_to_keep=1)
  if manager.latest_checkpoint and run.has_curve():
    manager.checkpoint.restore(manager.latest_checkpoint)
  curve = run.curve(int(step.numpy()), args.threads)
  if curve.stale:
    raise RuntimeError(f'{run.partial} holds a checkpoint of other training '
                       'settings; delete it to retrain this run')

  train_step = _train_step(vae, optimizer, vae.variables)
  elbo = _elbo_fn(vae, args)
  rng = np.random.default_rng([seed, int(step.numpy())])
  curve_images = test[:args.curve_images]
  while int(step.numpy()) < args.steps:
    train_step(_batch(train, args, rng), tf.constant([seed, int(step.numpy())]))
    step.assign_add(1)
    if int(step.numpy()) % args.eval_every == 0:
      value = -float(np.mean(elbo(curve_images, tf.constant([seed, 0]))))
      curve.append(int(step.numpy()), test_elbo=value)
      curve.save()
      manager.save()
      print(f'{posterior} seed {seed} step {int(step.numpy())}: curve '
            f'-ELBO {value:.2f}', flush=True)
  negative_elbo = _test_neg_elbo(elbo, test, seed)
  nll = importance_weighted_nll(vae, test[:args.iw_images], args, seed)
  usage = posterior_usage(vae, test[:args.curve_images], seed)
  return dict(posterior=posterior, seed=seed,
              flow_parameters=vae.flow_parameters(),
              test_neg_elbo=negative_elbo, **nll, usage=usage, curve=dict(
                  steps=curve.steps,
                  test_elbo=curve.series.get('test_elbo', []),
                  segments=curve.segments, **curve.totals()))


def importance_weighted_nll(vae, images, args, seed):
  """-log (1/S) sum_s exp(log w_s) per image, S = args.iw_samples, in
  chunks of `args.iw_chunk` samples; its mean and standard error."""
  import tensorflow as tf
  log_weights = tf.function(lambda x, s: vae.log_weights(x, args.iw_chunk, s))
  values = []
  for i in range(0, len(images), 100):
    x = tf.constant(images[i:i + 100])
    chunks = [log_weights(x, tf.constant([seed, 2 + c])).numpy()
              for c in range(args.iw_samples // args.iw_chunk)]
    weights = np.concatenate(chunks, axis=0)
    top = weights.max(axis=0)
    values.append(-(top + np.log(np.mean(np.exp(weights - top), axis=0))))
  values = np.concatenate(values)
  return dict(test_nll=float(values.mean()),
              test_nll_se=float(values.std(ddof=1) / math.sqrt(len(values))),
              iw_images=len(values), iw_samples=args.iw_samples)


def posterior_usage(vae, images, seed, samples=10):
  """The ELBO's rate and distortion and, for flows, how far f moves a
  Gaussian sample and its mean log-det (module doc)."""
  import tensorflow as tf
  x = tf.constant(images)
  log_likelihood, log_q_over_prior = vae.distortion_and_rate_terms(
      x, samples, tf.constant([seed, 3]))
  usage = dict(rate=float(np.mean(log_q_over_prior)),
               distortion=-float(np.mean(log_likelihood)))
  if vae.flow is not None:
    from tfp_invconv import diagnostics
    from tfp_invconv.bijectors.conf_coupling import CONFTransform
    base, context = vae.gaussian_and_context(x)
    z0 = base.sample(seed=tf.constant([seed, 4]))
    kwargs = vae._kwargs(context)
    with diagnostics.recording_couplings(vae.flow) as records:
      moved = (vae.flow.forward(z0, **kwargs) - z0).numpy()
    scales = [diagnostics.conf_scales(r) for r in records
              if isinstance(r['transform'], CONFTransform)]
    if scales:
      usage.update(_conf_scale_use(scales))
      usage.update(live_units=_live_units(vae.flow, records))
    spread = np.linalg.norm(base.stddev().numpy(), axis=1)
    log_det = vae.flow.forward_log_det_jacobian(z0, event_ndims=1, **kwargs)
    usage.update(flow_shift=float(np.median(
        np.linalg.norm(moved, axis=1) / spread)),
                 flow_log_det=float(np.mean(log_det)))
  return usage


def _conf_scale_use(scales):
  """How much of their range the CONF sub-layers use: the fraction of
  scales s within 10% of the bound (log s >= 0.9 log max_scale), and the
  mean |log s| and |log w|."""
  log_s = np.concatenate([r['log_s'].ravel() for r in scales])
  log_w = np.concatenate([r['log_w'].ravel() for r in scales])
  bound = math.log(scales[0]['max_scale'])
  return dict(scales_near_bound=float(np.mean(log_s >= 0.9 * bound)),
              mean_abs_log_s=float(np.mean(np.abs(log_s))),
              mean_abs_log_w=float(np.mean(np.abs(log_w))))


def _live_units(flow, conditioner_inputs):
  """The fraction of the conditioners' last hidden units whose activation
  has a slope above 1e-3 for at least one of the recorded inputs (a dead
  ReLU unit has none, and passes no gradient)."""
  import tensorflow as tf
  from tfp_invconv.bijectors import base
  couplings = {b.name: b for b in base.walk_bijectors(flow)
               if hasattr(b, 'conditioners')}
  live = []
  for record in conditioner_inputs:
    net = couplings[record['coupling']].conditioners[record['block'] - 1]
    *hidden, last_hidden, _ = net.layers
    x = tf.constant(record['inputs'])
    for layer in hidden:
      x = layer(x)
    pre_activation = tf.matmul(x, last_hidden.kernel) + last_hidden.bias
    with tf.GradientTape() as tape:
      tape.watch(pre_activation)
      activation = last_hidden.activation(pre_activation)
    slope = tape.gradient(activation, pre_activation).numpy()
    live.append(np.max(slope, axis=0) > 1e-3)
  return float(np.mean(np.concatenate(live)))


def _restored(args, posterior, seed, steps):
  """The VAE of run (posterior, seed) from its last checkpoint, if that
  checkpoint is at `steps`; else None."""
  import keras
  import tensorflow as tf
  latest = tf.train.latest_checkpoint(_run(args, posterior, seed).partial)
  if latest is None:
    return None
  vae = VAE(posterior, args)
  optimizer = keras.optimizers.Adam(args.lr)
  optimizer.build(vae.variables)
  step = tf.Variable(0, dtype=tf.int64)
  _checkpoint(vae, optimizer, step).restore(latest).expect_partial()
  return vae if int(step.numpy()) == steps else None


def _usage_from_checkpoint(args, result, test):
  """`posterior_usage` of a finished run from its last checkpoint (runs
  saved before the usage was recorded); None without a checkpoint."""
  vae = _restored(args, result['posterior'], result['seed'], result['steps'])
  return None if vae is None else posterior_usage(
      vae, test[:args.curve_images], result['seed'])


def refit_one(args, posterior, seed, train, test):
  """Encoder and posterior trained for `--refit-steps` against the frozen
  decoder of the Gaussian run of `seed`, from its trained encoder.

  With p(x | z) fixed, log p(x) is fixed, so differences in test -ELBO
  between posteriors are differences in KL(q(z | x) || p(z | x)): how much
  of the inference gap each family closes, apart from how it shapes the
  decoder during joint training (Cremer et al. 2018). The Gaussian's own
  refit is the control for the extra encoder steps.
  """
  import keras
  import tensorflow as tf
  source = _restored(args, 'gaussian', seed, args.steps)
  if source is None:
    raise SystemExit(f'--refit-steps needs the finished gaussian run of seed '
                     f'{seed} (its checkpoint under {args.runs}/partial)')
  start_cpu = time.process_time()
  keras.utils.set_random_seed(seed)
  vae = VAE(posterior, args)
  trained = source.encoder.weights + source.decoder.weights
  for target, value in zip(vae.encoder.weights + vae.decoder.weights,
                           trained):
    target.assign(value)
  variables = ([w.value for w in vae.encoder.trainable_weights]
               + vae.flow_variables)
  optimizer = keras.optimizers.Adam(args.lr)
  optimizer.build(variables)
  train_step, elbo = _train_step(vae, optimizer, variables), _elbo_fn(
      vae, args)
  before = _test_neg_elbo(elbo, test, seed)
  rng = np.random.default_rng([seed, args.steps])
  for step in range(args.refit_steps):
    train_step(_batch(train, args, rng), tf.constant([seed, step]))
  after = _test_neg_elbo(elbo, test, seed)
  print(f'refit {posterior} seed {seed}: test -ELBO {before:.2f} -> '
        f'{after:.2f}', flush=True)
  return dict(posterior=posterior, seed=seed,
              test_neg_elbo_before=before, test_neg_elbo=after,
              cpu_s=time.process_time() - start_cpu)


SETTINGS = ('batch', 'lr', 'latents', 'context', 'hidden', 'flows',
            'conf_layers', 'conf_width', 'iaf_width', 'elbo_samples',
            'iw_samples', 'iw_images', 'eval_every', 'curve_images')
# Settings of the evaluation after training only: changing one evaluates a
# finished checkpoint again instead of retraining it.
EVALUATION_SETTINGS = ('elbo_samples', 'iw_samples', 'iw_images')


def settings(args):
  return {k: getattr(args, k) for k in SETTINGS}


def _run(args, posterior, seed, prefix='', **expected):
  """The resumable run (posterior, seed) (`prefix` 'refit_' for a refit):
  its result must match the settings, the steps and `expected`; its
  checkpoint resumes under the same training settings."""
  values = settings(args)
  training = {k: v for k, v in values.items()
              if k not in EVALUATION_SETTINGS}
  return runs.Run(os.path.join(args.runs, f'{prefix}{posterior}_seed{seed}'
                               '.json'),
                  resume_with=dict(settings=training), settings=values,
                  steps=args.steps, **expected)


def report(args, command, results, refits=()):
  rows, groups = [], {}
  for r in results:
    groups.setdefault(r['posterior'], []).append(r)
  for posterior in POSTERIORS:
    group = groups.get(posterior)
    if not group:
      continue
    elbos = [r['test_neg_elbo'] for r in group]
    nlls = [r['test_nll'] for r in group]
    sd = lambda v: f'{np.std(v, ddof=1):.2f}' if len(v) > 1 else '-'
    rows.append([posterior, f'{group[0]["flow_parameters"]:,}', len(group),
                 f'{np.mean(elbos):.2f}', sd(elbos), f'{np.mean(nlls):.2f}',
                 sd(nlls), f'{np.mean([r["test_nll_se"] for r in group]):.2f}',
                 f'{np.mean(elbos) - np.mean(nlls):.2f}',
                 f'{np.mean([r["curve"]["cpu_s"] for r in group]) / 60:.1f}'])
  png = os.path.splitext(args.out)[0] + '.png'
  os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
  _plot(png, groups)
  notes = [f'Binarized MNIST, {args.steps} Adam steps of batch {args.batch} '
           f'(learning rate {args.lr}), {args.latents} latents, encoder and '
           f'decoder MLPs of width {args.hidden}, context h(x) of '
           f'{args.context} features; F = {args.flows} flows (CONF: m = '
           f'{args.conf_layers} sub-layers). -ELBO on all 10,000 test '
           f'images ({args.elbo_samples} samples each); NLL with '
           f'{args.iw_samples} importance samples on the first '
           f'{args.iw_images} test images (standard error over images); '
           'the inference gap subtracts one from the other, so compare it '
           'across posteriors only. '
           'The paper (its Table 2, larger networks, far longer training): '
           'Gaussian 86.55 / 82.14, IAF 84.20 / 80.79, CONF (F=4, m=8) '
           '83.79 / 80.71 (-ELBO / NLL).', '',
           f'![learning curves]({os.path.basename(png)})', '']
  for a, b in (('conf', 'gaussian'), ('conf', 'iaf'), ('iaf', 'gaussian'),
               ('conf_lu', 'gaussian'), ('conf_lu', 'conf'),
               ('conf_elu', 'gaussian'), ('conf_elu', 'conf')):
    if a in groups and b in groups and len(groups[a]) > 1 and len(
        groups[b]) > 1:
      ea = [r['test_neg_elbo'] for r in groups[a]]
      eb = [r['test_neg_elbo'] for r in groups[b]]
      diff = np.mean(ea) - np.mean(eb)
      spread = 2 * max(np.std(ea, ddof=1), np.std(eb, ddof=1))
      verdict = ('lower beyond 2 sd of the seeds' if diff < -spread else
                 'higher beyond 2 sd' if diff > spread else 'within 2 sd')
      by_seed = {r['seed']: r['test_neg_elbo'] for r in groups[b]}
      paired = ', '.join(f'{r["test_neg_elbo"] - by_seed[r["seed"]]:+.2f}'
                         for r in groups[a] if r['seed'] in by_seed)
      notes.append(f'- {a} - {b}, test -ELBO: {diff:+.2f} nats '
                   f'(2 sd = {spread:.2f}): {verdict}. Seed by seed: '
                   f'{paired}.')
  notes += _usage_table(groups)
  notes += _refit_table(refits)
  common.write_markdown(
      args.out, 'VAE posteriors on binarized MNIST', command,
      provenance.machine(args.threads),
      ['posterior', 'flow parameters', 'seeds', 'test -ELBO', 'sd',
       'test NLL', 'sd', 'NLL standard error',
       'inference gap (-ELBO - NLL)', 'CPU min / run'], rows, notes)
  print(open(args.out).read())


def _usage_table(groups):
  """Markdown lines: how each posterior is used (module doc), as the mean
  over the seeds that recorded it."""
  lines = ['', 'How each posterior is used (first test images; mean over '
           'seeds):', '',
           '| posterior | seeds | rate (nats) | distortion (nats) | '
           'flow shift / sigma | flow log-det | CONF scales near the bound '
           '| CONF mean abs log s, log w | CONF live conditioner units |',
           '|---|---|---|---|---|---|---|---|---|']
  for posterior, group in groups.items():
    usages = [r['usage'] for r in group if 'usage' in r]
    if not usages:
      continue
    mean = lambda key, digits=2: (
        f'{np.mean([u[key] for u in usages]):.{digits}f}'
        if key in usages[0] else '-')
    lines.append(f'| {posterior} | {len(usages)} | {mean("rate")} | '
                 f'{mean("distortion")} | {mean("flow_shift")} | '
                 f'{mean("flow_log_det")} | {mean("scales_near_bound", 4)} | '
                 f'{mean("mean_abs_log_s", 3)}, {mean("mean_abs_log_w", 3)} '
                 f'| {mean("live_units")} |')
  return lines if len(lines) > 5 else []


def _refit_table(refits):
  """Markdown lines: test -ELBO of each posterior refitted on the frozen
  decoder of the Gaussian run of the same seed (`refit_one`)."""
  if not refits:
    return []
  gaussian = {r['seed']: r['test_neg_elbo'] for r in refits
              if r['posterior'] == 'gaussian'}
  lines = ['', f'Refitted on a frozen decoder: encoder and posterior '
           f'trained {refits[0]["refit_steps"]} more steps against the '
           'decoder of the Gaussian run of the same seed, from its encoder '
           '(`refit_one`). log p(x) is then the same for every posterior, '
           'so a lower -ELBO is a smaller KL(q || p(z|x)):', '',
           '| posterior | seeds | test -ELBO before | after | after, minus '
           'the Gaussian refit (by seed) | CPU min / refit |',
           '|---|---|---|---|---|---|']
  groups = {}
  for r in refits:
    groups.setdefault(r['posterior'], []).append(r)
  for posterior, group in groups.items():
    minus = ', '.join(f'{r["test_neg_elbo"] - gaussian[r["seed"]]:+.2f}'
                      for r in group if r['seed'] in gaussian)
    lines.append(
        f'| {posterior} | {len(group)} | '
        f'{np.mean([r["test_neg_elbo_before"] for r in group]):.2f} | '
        f'{np.mean([r["test_neg_elbo"] for r in group]):.2f} | {minus} | '
        f'{np.mean([r["cpu_s"] for r in group]) / 60:.1f} |')
  return lines


def _plot(path, groups):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  for i, (posterior, group) in enumerate(groups.items()):
    for r in group:
      ax.plot(r['curve']['steps'], r['curve']['test_elbo'], color=f'C{i}',
              alpha=0.8, label=posterior if r is group[0] else None)
  ax.set(xlabel='training step', ylabel='-ELBO (nats), held-out subset',
         title='VAE posteriors on binarized MNIST')
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv=None):
  parser = common.make_parser('vae', __doc__.split('\n')[0], batch=100,
                              out='benchmarks/results/vae.md')
  parser.add_argument('--data', default='../shared/data')
  parser.add_argument('--posteriors', nargs='+', default=list(POSTERIORS),
                      choices=POSTERIORS)
  parser.add_argument('--seeds', type=int, default=2)
  parser.add_argument('--steps', type=int, default=15000)
  parser.add_argument('--lr', type=float, default=1e-3)
  parser.add_argument('--latents', type=int, default=32)
  parser.add_argument('--context', type=int, default=32)
  parser.add_argument('--hidden', type=int, default=300)
  parser.add_argument('--flows', type=int, default=4)
  parser.add_argument('--conf-layers', type=int, default=8)
  parser.add_argument('--conf-width', type=int, default=64)
  parser.add_argument('--iaf-width', type=int, default=96)
  parser.add_argument('--elbo-samples', type=int, default=10)
  parser.add_argument('--iw-samples', type=int, default=1000)
  parser.add_argument('--iw-chunk', type=int, default=100)
  parser.add_argument('--iw-images', type=int, default=1000)
  parser.add_argument('--eval-every', type=int, default=1000)
  parser.add_argument('--curve-images', type=int, default=1000)
  parser.add_argument('--refit-steps', type=int, default=0,
                      help='also refit each posterior on the frozen decoder '
                      'of the Gaussian run (refit_one) for this many steps')
  parser.add_argument('--runs', default='benchmarks/results/vae_runs')
  parser.add_argument('--report-only', action='store_true')
  args, command = common.parse(parser, argv)
  report_only = args.report_only
  with np.load(os.path.join(args.data, 'mnist.npz')) as arrays:
    train = arrays['x_train'].reshape(-1, PIXELS).astype(np.float32)
    test = _binarized(arrays['x_test'].reshape(-1, PIXELS).astype(
        np.float32), np.random.default_rng(0))
  results = []
  for posterior in args.posteriors:
    for seed in range(args.seeds):
      run = _run(args, posterior, seed)
      result = run.saved()
      if result is None and not report_only:
        result = run.save(train_one(args, posterior, seed, train, test))
      if result and 'usage' not in result:
        usage = _usage_from_checkpoint(args, result, test)
        if usage is not None:
          result['usage'] = usage
          run.save(result)
      if result:
        results.append(result)
  refits = [_refit(args, posterior, seed, train, test, report_only)
            for posterior in args.posteriors for seed in range(args.seeds)
            if args.refit_steps]
  report(args, command, results, [r for r in refits if r])


def _refit(args, posterior, seed, train, test, report_only):
  run = _run(args, posterior, seed, 'refit_', refit_steps=args.refit_steps)
  result = run.saved()
  if result is None and not report_only:
    result = run.save(refit_one(args, posterior, seed, train, test))
  return result


if __name__ == '__main__':
  main()
