"""Flow builders: multi-scale CInC / Glow / Emerging flows (CInC paper Fig. 3).

Normalizing direction, for an H x W x C image and L levels of D steps:

  squeeze -> level 1 -> ... -> level L -> flat latent of H*W*C values
  level l < L:  D x [ActNorm -> conv -> coupling], then the learned
                conditional prior on the second half of the channels, which
                is factored out, and a squeeze of the kept half
  level L:      D x [ActNorm -> conv -> coupling], the learned top prior

The builders return the generative direction (latent -> image), like
`tfb.Glow`, so `tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0., 1.),
[H*W*C]), CInCFlow(...))` evaluates `log_prob` with the cheap convolutions and
samples with the exact triangular solves.
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_invconv import bijectors as tfib
from tfp_invconv import solvers

tfb = tfp.bijectors

CENTRES = tfib.cinc_conv.CENTRES
COUPLINGS = ('affine', 'quad', 'conf', 'spline')
MEMORY_SAVING = (False, 'recompute', 'inverse')


def _check_shape(image_shape, levels, coupling, reason=None):
  if len(image_shape) != 3 or any(int(d) < 1 for d in image_shape):
    raise ValueError(f'image_shape must be (height, width, channels); got '
                     f'{image_shape}.')
  height, width, channels = image_shape
  factor = 2 ** levels
  reason = reason or f'{levels} levels squeeze the image {levels} times'
  if height % factor or width % factor:
    raise ValueError(
        f'{reason}: height and width must be divisible by {factor}; got '
        f'image shape {tuple(image_shape)} (pad it to '
        f'{padded_image_shape(image_shape, levels)}: see '
        'padded_image_shape).')
  blocks = {'quad': 4, 'pac': 1}.get(coupling, 2)
  if (4 * channels) % blocks:
    raise ValueError(f'{coupling} coupling cannot split {4 * channels} '
                     f'channels into {blocks} blocks.')


def padded_image_shape(image_shape, levels):
  """The smallest (H', W', C) >= image_shape whose sides `levels` squeezes
  divide: e.g. 28 x 28 MNIST -> 32 x 32 for 3 levels. Pad with
  `FlowModel(..., pixel_shape=image_shape)`."""
  factor = 2 ** int(levels)
  height, width, channels = (int(d) for d in image_shape)
  return (-(-height // factor) * factor, -(-width // factor) * factor,
          channels)


def _routed(bijector, kwargs):
  """The nested per-name keyword arguments that take `kwargs` (e.g.
  {'context': c}) to every conditional layer under `bijector`."""
  if not kwargs or set(kwargs) != {'context'}:
    return kwargs
  if getattr(bijector, 'context_features', 0):
    return dict(kwargs)
  if hasattr(bijector, 'bijectors'):  # Chain
    routes = {b.name: _routed(b, kwargs) for b in bijector.bijectors}
    return {name: route for name, route in routes.items() if route}
  if hasattr(bijector, 'bijector'):  # Invert passes its arguments through
    return _routed(bijector.bijector, kwargs)
  return {}


class GenerativeFlow(tfib.base.UnbatchedParameters, tfb.Composition):
  """The generative direction (latent -> data) of a normalizing bijector.

  Like `tfb.Glow`, a `Composition` that is not a `CompositeTensor`: a flow,
  and a `TransformedDistribution` over it, pass into `tf.function`,
  `tf.nest` and `tf.saved_model.save` as plain Python objects.
  """

  def __init__(self, normalizing, data_shape, latent_size, dtype,
               validate_args, parameters, name):
    self._data_shape = tuple(data_shape)
    self._latent_size = int(latent_size)
    self._float_dtype = dtype
    super().__init__(
        bijectors=tfb.Chain([tfb.Invert(normalizing)],
                            validate_args=validate_args),
        validate_args=validate_args, parameters=parameters, name=name)

  # A conditional flow takes `context=c` (or `bijector_kwargs={'context':
  # c}` on its distribution) and hands it to every conditional layer: TFP's
  # compositions route keyword arguments by the names of their parts.

  def _call_walk_forward(self, step_fn, *args, **kwargs):
    return super()._call_walk_forward(step_fn, *args, **self._routed(kwargs))

  def _call_walk_inverse(self, step_fn, *args, **kwargs):
    return super()._call_walk_inverse(step_fn, *args, **self._routed(kwargs))

  def _routed(self, kwargs):
    routed = _routed(self._bijectors, kwargs)
    if 'context' in kwargs and not routed:
      raise ValueError(f'{self.name} has no conditional layers: build it '
                       'with context_features to pass a context.')
    return routed

  @property
  def data_shape(self):
    """Shape of one data point (the image, or the vector)."""
    return self._data_shape

  @property
  def float_dtype(self):
    return self._float_dtype

  @property
  def latent_size(self):
    """Size of the flat latent vector."""
    return self._latent_size


class MultiScaleFlow(GenerativeFlow):
  """Glow's multi-scale architecture around any flow step, generative
  direction (module docstring).

  `make_step(shape, index) -> [bijector, ...]` builds step `index` (1, 2,
  ... over all levels) of a level whose squeezed images have `shape`
  (H, W, C), in the normalizing direction. Every step of a level sees the
  same shape; after each level but the last, half the channels leave
  through the learned conditional prior (`ConditionalPrior`, `FactorOut`),
  and the last level ends in the learned top prior (`LearnedPrior`).

    Forward:  latent z [H*W*C] -> image, the normalizing layers' inverses
    Log-det:  minus the sum of the steps' and priors' log-dets
    Inverse:  image -> z through the steps, priors and factor-outs

  ```python
  def make_step(shape, index):
    channels = shape[-1]
    return [tfib.ActNorm(channels, name=f'actnorm{index}'),
            tfib.Invertible1x1Conv(channels, name=f'conv1x1_{index}'),
            tfib.SplineCoupling(channels, hidden_width=64,
                                name=f'coupling{index}')]
  flow = MultiScaleFlow((32, 32, 3), levels=3, depth=8, make_step=make_step)
  ```

  Growth bound: that of its steps and priors composed.

  References:
    Dinh, Sohl-Dickstein, Bengio (2017). Density estimation using Real NVP.
    https://arxiv.org/abs/1605.08803
    Kingma, Dhariwal (2018). Glow: Generative Flow with Invertible 1x1
    Convolutions. https://arxiv.org/abs/1807.03039
  """

  def __init__(self, image_shape, levels, depth, make_step,
               prior_scale='tanh', log_scale_bound=2., memory_saving=False,
               dtype=tf.float32, validate_args=False, parameters=None,
               name='multi_scale_flow'):
    """Args:
      image_shape: (H, W, C); H and W divisible by 2**levels.
      levels: L, the number of scales.
      depth: D, steps per level.
      make_step: `(shape, index) -> list of bijectors` (above).
      prior_scale: 'tanh' (bounded) or 'exp' (Glow's), of the learned
        priors (`ConditionalPrior`, `LearnedPrior`).
      log_scale_bound: c of the 'tanh' prior scales.
      memory_saving: False, 'recompute' (`bijectors.Recomputed` around each
        step) or 'inverse' (`bijectors.Reversible` around each level's
        steps).
      dtype, validate_args, name: as for every bijector here.
      parameters: a subclass's constructor arguments.
    """
    parameters = parameters or dict(locals())
    if memory_saving not in MEMORY_SAVING:
      raise ValueError(f'memory_saving must be one of {MEMORY_SAVING}, got '
                       f'{memory_saving!r}.')
    tfib.base.check_positive_int(levels=levels, depth=depth)
    image_shape = tuple(int(d) for d in image_shape)
    self._make_step = make_step
    self._depth = depth
    self._levels = levels
    self._memory_saving = memory_saving
    self._common = dict(dtype=dtype, validate_args=validate_args)
    self._prior = dict(scale=prior_scale, log_scale_bound=log_scale_bound,
                       dtype=dtype)
    normalizing = self._level(image_shape, 1)
    super().__init__(normalizing, image_shape, math.prod(image_shape), dtype,
                     validate_args, parameters, name)

  @property
  def image_shape(self):
    return self.data_shape

  def _steps(self, shape, level):
    first = (level - 1) * self._depth + 1
    steps = [self._make_step(shape, index)
             for index in range(first, first + self._depth)]
    dtype = self._common['dtype']
    if self._memory_saving == 'inverse':
      return [tfib.Reversible(steps, shape, dtype=dtype,
                              name=f'reversible{level}')]
    if self._memory_saving == 'recompute':
      return [tfib.Recomputed(step, shape, dtype=dtype,
                              name=f'recomputed_{step[-1].name}')
              for step in steps]
    return [b for step in steps for b in step]

  def _level(self, shape, level):
    """Normalizing bijector from `shape` (before its squeeze) to flat."""
    squeeze = tfib.Squeeze(shape, dtype=self._common['dtype'],
                           name=f'squeeze{level}')
    squeezed = tuple(squeeze.event_shape_out.as_list())
    height, width, channels = squeezed
    # Built in the order of the normalizing direction, so that a seed gives
    # the weights it gave before this builder existed.
    steps = self._steps(squeezed, level)
    if level == self._levels:
      tail = [tfib.LearnedPrior(channels, name=f'top_prior{level}',
                                **self._prior),
              tfb.Reshape([height * width * channels], list(squeezed))]
    else:
      inner = self._level((height, width, channels // 2), level + 1)
      tail = [tfib.ConditionalPrior(channels, name=f'split_prior{level}',
                                    **self._prior),
              tfib.FactorOut(squeezed, inner, dtype=self._common['dtype'],
                             name=f'factor_out{level}')]
    # tfb.Chain applies its list right to left.
    return tfb.Chain(list(reversed([squeeze] + steps + tail)),
                     name=f'level{level}')


def _cinc(shape, tag, index, opts, common):
  corner = ('bottom_right' if opts['corners'] == 'alternate'
            and index % 2 == 0 else 'top_left')
  return [tfib.CInCConv2D(shape[-1], kernel_size=opts['kernel_size'],
                          centre=opts['centre'], corner=corner,
                          solver=opts['solver'], name=f'cinc_{tag}',
                          **common)]


def _one_by_one(shape, tag, index, opts, common):
  return [tfib.Invertible1x1Conv(shape[-1], name=f'conv1x1_{tag}', **common)]


def _emerging(shape, tag, index, opts, common):
  return _one_by_one(shape, tag, index, opts, common) + [
      tfib.EmergingConv2D(shape[-1], solver=opts['solver'],
                          name=f'emerging_{tag}', **common)]


def _symmetric(shape, tag, index, opts, common):
  return _one_by_one(shape, tag, index, opts, common) + [
      tfib.SymmetricConv(shape, dct_type=opts['dct_type'],
                         name=f'symmetric_{tag}', **common)]


# conv -> (shape, tag, step index, options, dtype options) -> the step's
# invertible linear layers after its ActNorm.
STEP_CONVS = {
    'cinc': _cinc,
    'emerging': _emerging,
    '1x1': _one_by_one,
    'cinc+1x1': lambda *a: _one_by_one(*a) + _cinc(*a),
    'symmetric': _symmetric,
}
CONVS = tuple(STEP_CONVS)


def _coupling(channels, name, opts, common):
  kind, width = opts['coupling'], opts['hidden_width']
  if kind == 'conf':
    return tfib.CONFCoupling(channels, hidden_width=width,
                             num_layers=opts['conf_layers'],
                             growth=opts['conf_growth'],
                             dct_type=opts['dct_type'], name=name, **common)
  if kind == 'spline':
    return tfib.SplineCoupling(channels, hidden_width=width, name=name,
                               **common)
  coupling_cls = tfib.QuadCoupling if kind == 'quad' else tfib.AffineCoupling
  return coupling_cls(channels, hidden_width=width, scale=opts['scale'],
                      log_scale_bound=opts['log_scale_bound'], name=name,
                      **common)


# Each option's allowed values, checked in one place (`_checked_options`).
CHOICES = dict(conv=CONVS, coupling=COUPLINGS, centre=CENTRES,
               scale=tfib.coupling.SCALES,
               corners=('top_left', 'alternate'),
               solver=solvers.METHODS,
               conf_growth=tfib.conf_coupling.GROWTHS,
               memory_saving=MEMORY_SAVING)


# Options that only one coupling reads: not checked for the others (a run
# saved with a value that no longer exists still loads).
ONLY_FOR_COUPLING = dict(conf_growth='conf')


def _checked_options(**options):
  for key, allowed in CHOICES.items():
    if ONLY_FOR_COUPLING.get(key, options['coupling']) != options['coupling']:
      continue
    if options[key] not in allowed:
      raise ValueError(f'{key} must be one of {allowed}, got '
                       f'{options[key]!r}.')
  tfib.base.check_positive_int(hidden_width=options['hidden_width'],
                               kernel_size=options['kernel_size'])
  return options


class CInCFlow(MultiScaleFlow):
  """Multi-scale flow with invertible convolutions, generative direction:
  each step is ActNorm -> invertible convolution(s) -> coupling.

    Forward:  latent z [H*W*C] -> image, the steps' and priors' inverses
              (the convolutions' exact triangular solves)
    Log-det:  minus the sum of the normalizing layers' log-dets
    Inverse:  image -> z through the normalizing layers (plain
              convolutions), as `log_prob` evaluates it

  The convolution, the coupling and their options are chosen by name; the
  steps are built by the `STEP_CONVS` factory of `conv`.

  ```python
  flow = CInCFlow((32, 32, 3), levels=3, depth=8, hidden_width=256)
  dist = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), [32 * 32 * 3]), flow)
  ```

  Growth bound: that of its steps and priors composed (each layer's
  docstring).

  References:
    Nagar, Dufraisse, Varma (2021). CInC Flow: Characterizable Invertible
    3x3 Convolution. https://arxiv.org/abs/2107.01358
  """

  def __init__(self, image_shape, levels=3, depth=32, hidden_width=512,
               conv='cinc', coupling='quad', kernel_size=3, centre='lu',
               scale='tanh', log_scale_bound=2., corners='top_left',
               solver='auto',
               conf_layers=2, conf_growth='bounded', dct_type=2,
               memory_saving=False,
               dtype=tf.float32, validate_args=False, name=None):
    """Builds the flow.

    Args:
      image_shape: (H, W, C); H and W divisible by 2**levels.
      levels: L, the number of scales.
      depth: D, steps per level.
      hidden_width: channels of the coupling networks.
      conv: 'cinc' (CInC convolution), 'emerging' (1x1 + emerging conv),
        '1x1' (Glow), 'cinc+1x1' or 'symmetric' (1x1 + DCT symmetric conv,
        Karami et al.).
      coupling: 'affine' (Glow), 'quad' (CInC paper), 'conf' (Karami et
        al.'s combined convolution-multiplication coupling) or 'spline'
        (neural spline flows' rational-quadratic spline, 8 bins on [-3, 3]).
      kernel_size: k of the CInC convolutions.
      centre: centre tap of the CInC convolutions: 'lu' (a full invertible
        matrix that starts as a random rotation) or 'triangular' (the
        paper's masked centre). `conv='cinc', centre='triangular'` is the
        paper's reference model: ActNorm -> CInC -> coupling, no 1x1.
      scale: how the affine and Quad couplings and the learned priors
        parametrise their scales (`AffineTransform`): 'tanh' (the default,
        log s = c tanh(r / c) everywhere, so every scale is in
        (e^-c, e^c)), 'sigmoid' (the papers' reference models:
        sigmoid(r + 2) in the couplings, Glow's exp in the priors) or
        'exp' (exp in both).
      log_scale_bound: c of the 'tanh' scales.
      corners: 'top_left' (the paper) or 'alternate' (top-left and
        bottom-right CInC convolutions in turn).
      solver: 'auto', 'rows', 'row_conv', 'wavefront' or 'jacobi', for the
        convolution inverses (`CInCConv2D`).
      conf_layers: m, sub-layers of each CONF coupling.
      conf_growth: 'bounded' (the default: each CONF sub-layer's scales
        bounded in both directions) or 'power' (the earlier bound, for
        models trained with it): `CONFCoupling`'s `growth`.
      dct_type: DCT of the symmetric convolutions and CONF couplings.
      memory_saving: False or 'recompute': the gradient recomputes
        each step's activations from its kept input instead of keeping them
        (`bijectors.Recomputed`): training memory no longer grows with the
        depth's activations, for about one more forward pass. 'inverse':
        it keeps only each level's output and rebuilds every step's input
        with the exact inverse (`bijectors.Reversible`), for one inverse
        and one forward pass more. Same weights, values and gradients (up
        to the inverses' round-off).
      dtype: float32 or float64.
      validate_args: check inputs for NaN/Inf in every layer.
      name: defaults to '<conv>_<coupling>_flow'.
    """
    parameters = dict(locals())
    image_shape = tuple(int(d) for d in image_shape)
    tfib.base.check_positive_int(levels=levels)
    _check_shape(image_shape, levels, coupling)
    opts = _checked_options(
        hidden_width=hidden_width, conv=conv, coupling=coupling,
        kernel_size=kernel_size, centre=centre, scale=scale,
        log_scale_bound=log_scale_bound, corners=corners, solver=solver,
        conf_layers=conf_layers, conf_growth=conf_growth, dct_type=dct_type,
        memory_saving=memory_saving)
    common = dict(dtype=dtype, validate_args=validate_args)

    def make_step(shape, index):
      tag = f'l{1 + (index - 1) // depth}s{index}'
      return ([tfib.ActNorm(shape[-1], name=f'actnorm_{tag}', **common)]
              + STEP_CONVS[conv](shape, tag, index, opts, common)
              + [_coupling(shape[-1], f'coupling_{tag}', opts, common)])

    super().__init__(
        image_shape, levels, depth, make_step,
        prior_scale='tanh' if scale == 'tanh' else 'exp',
        log_scale_bound=log_scale_bound, memory_saving=memory_saving,
        dtype=dtype, validate_args=validate_args, parameters=parameters,
        name=name or f'flow_{conv}_{coupling}'.replace('+', '_'))


class GlowFlow(CInCFlow):
  """Glow (Kingma & Dhariwal 2018): 1x1 convolutions and affine couplings;
  `CInCFlow` with conv='1x1', coupling='affine'.

  Forward / Log-det / Inverse: as `CInCFlow`'s.

  ```python
  flow = GlowFlow((32, 32, 3), levels=3, depth=8, hidden_width=256)
  ```

  Growth bound: that of its steps and priors composed.

  References:
    Kingma, Dhariwal (2018). Glow: Generative Flow with Invertible 1x1
    Convolutions. https://arxiv.org/abs/1807.03039
  """

  def __init__(self, image_shape, levels=3, depth=32, hidden_width=512,
               **kwargs):
    super().__init__(image_shape, levels, depth, hidden_width,
                     **dict(dict(conv='1x1', coupling='affine'), **kwargs))


class EmergingFlow(CInCFlow):
  """Emerging-convolution flow (Hoogeboom et al. 2019) with affine
  couplings; `CInCFlow` with conv='emerging', coupling='affine'.

  Forward / Log-det / Inverse: as `CInCFlow`'s.

  ```python
  flow = EmergingFlow((32, 32, 3), levels=3, depth=8, hidden_width=256)
  ```

  Growth bound: that of its steps and priors composed.

  References:
    Hoogeboom, van den Berg, Welling (2019). Emerging Convolutions for
    Generative Normalizing Flows. https://arxiv.org/abs/1901.11137
  """

  def __init__(self, image_shape, levels=3, depth=32, hidden_width=512,
               **kwargs):
    super().__init__(image_shape, levels, depth, hidden_width,
                     **dict(dict(conv='emerging', coupling='affine'),
                            **kwargs))


class SymmetricConvFlow(CInCFlow):
  """Karami et al.'s image flow: 1x1 + DCT symmetric convolution, CONF
  couplings; `CInCFlow` with conv='symmetric', coupling='conf'.

  Forward / Log-det / Inverse: as `CInCFlow`'s.

  ```python
  flow = SymmetricConvFlow((32, 32, 3), levels=3, depth=8)
  ```

  Growth bound: that of its steps and priors composed.

  References:
    Karami, Schuurmans, Sohl-Dickstein, Dinh, Duckworth (2019). Invertible
    Convolutional Flow. NeurIPS 2019.
  """

  def __init__(self, image_shape, levels=3, depth=8, hidden_width=512,
               **kwargs):
    super().__init__(image_shape, levels, depth, hidden_width,
                     **dict(dict(conv='symmetric', coupling='conf'),
                            **kwargs))


class SymmetricConvVectorFlow(GenerativeFlow):
  """Karami et al.'s flow for vectors (tabular data), generative direction.

  Normalizing direction: depth x [CONF coupling (1-D DCT over the features),
  mixing of the features], into a standard normal latent. The mixing is a
  reversal (the paper's) or, with `mixing='lu'`, a learned invertible linear
  map (`Invertible1x1Conv(event_rank=1)`): the DCT diagonalises the
  coupling's convolution in a fixed basis, which a learned map can rotate
  towards the data's. The feature count must be even: pad odd data with
  `pad_to_even`.

    Forward:  latent -> data, the normalizing layers' inverses in reverse
    Log-det:  minus the sum of the normalizing layers' log-dets
    Inverse:  data -> latent through the normalizing layers

  ```python
  flow = SymmetricConvVectorFlow(8, depth=4, context_features=3)
  x = flow.forward(z, context=c)              # z: [B, 8], c: [B, 3]
  ```

  Growth bound: that of its CONF couplings and mixings composed.

  References:
    Karami, Schuurmans, Sohl-Dickstein, Dinh, Duckworth (2019). Invertible
    Convolutional Flow. NeurIPS 2019.
  """

  def __init__(self, features, depth=4, hidden_width=64, conf_layers=2,
               dct_type=2, growth='bounded', max_scale=1.135,
               context_features=0, mixing='reverse', activation='relu',
               dtype=tf.float32,
               validate_args=False, name='symmetric_conv_vector_flow'):
    """Builds the flow; with `context_features` K > 0 it is conditional:
    `flow.forward(z, context=c)` for c of shape [..., K], and
    `distribution.log_prob(x, bijector_kwargs={'context': c})`.
    `activation` is the conditioners' hidden activation, and `growth` and
    `max_scale` bound each sub-layer (`CONFCoupling`)."""
    parameters = dict(locals())
    features = int(features)
    if features % 2:
      raise ValueError(f'the vector flow needs an even feature count, got '
                       f'{features}; pad the data with pad_to_even.')
    if mixing not in ('reverse', 'lu'):
      raise ValueError(f"mixing must be 'reverse' or 'lu', got {mixing!r}.")
    layers = []
    for step in range(depth):
      layers.append(tfib.CONFCoupling(
          features, hidden_width=hidden_width, num_layers=conf_layers,
          dct_type=dct_type, event_rank=1, growth=growth,
          max_scale=max_scale,
          context_features=context_features, activation=activation,
          dtype=dtype, validate_args=validate_args, name=f'conf_s{step}'))
      layers.append(
          tfib.Invertible1x1Conv(features, event_rank=1, dtype=dtype,
                                 validate_args=validate_args,
                                 name=f'mixing_s{step}')
          if mixing == 'lu' else
          tfb.Permute(list(reversed(range(features)))))
    super().__init__(tfb.Chain(list(reversed(layers))), (features,), features,
                     dtype, validate_args, parameters, name)


class PACFlow(GenerativeFlow):
  """Multi-scale PAC flow (Cooper & Tomczak, §5.1 and App. C.4), generative
  direction.

  Normalizing direction, for an H x W x C image and S scales:

    scale s:  squeeze, then `checkerboard` PAC couplings with a checkerboard
              split and `channel` with a channel split, each followed by a
              1x1 convolution and ActNorm
    then the flat latent of H*W*C values.

  The paper runs its first scale before any squeeze, with the channels
  padded (its dequantizer fills the padding); here every scale starts with
  a squeeze, so a one-channel image has 4 channels to split. H and W must
  be divisible by 2**(S+1) (a checkerboard needs an even width after the
  last squeeze): pad with `padded_image_shape(shape, scales + 1)` and
  `FlowModel(..., pixel_shape=...)`.

    Forward:  latent -> data, the normalizing layers' inverses in reverse
    Log-det:  minus the sum of the normalizing layers' log-dets
    Inverse:  data -> latent through the normalizing layers

  ```python
  flow = PACFlow((8, 8, 1), scales=2, checkerboard=1, channel=1)
  ```

  Growth bound: that of its PAC couplings, 1x1 convolutions and ActNorms
  composed.

  References:
    Cooper, Tomczak (2023). Pixel-adaptive convolutions in normalizing flows
    (PAC flows).
  """

  def __init__(self, image_shape, scales=2, checkerboard=3, channel=3,
               variant='pac', order='raster', kernel_size=5, features=16,
               components=4, hidden_width=64, blocks=2, solver='rows',
               dtype=tf.float32, validate_args=False, name=None):
    """Builds the flow.

    Args:
      image_shape: (H, W, C).
      scales: S, the number of squeezes.
      checkerboard, channel: couplings of each kind per scale.
      variant, order, kernel_size, features, components, hidden_width,
        blocks, solver: of every `PACCoupling`.
      dtype, validate_args: as for every bijector here.
      name: defaults to 'pac_<variant>_<order>_flow'.
    """
    parameters = dict(locals())
    tfib.base.check_positive_int(scales=scales, hidden_width=hidden_width)
    image_shape = tuple(int(d) for d in image_shape)
    _check_shape(image_shape, scales + 1, 'pac',
                 f'{scales} squeezes and a checkerboard split')
    common = dict(dtype=dtype, validate_args=validate_args)
    coupling = dict(variant=variant, order=order, kernel_size=kernel_size,
                    features=features, components=components,
                    hidden_width=hidden_width, blocks=blocks, solver=solver,
                    **common)
    layers, shape = [], image_shape
    for s in range(1, scales + 1):
      squeeze = tfib.Squeeze(shape, dtype=dtype, name=f'squeeze{s}')
      shape = tuple(squeeze.event_shape_out.as_list())
      layers.append(squeeze)
      splits = ['checkerboard'] * checkerboard + ['channel'] * channel
      for i, split in enumerate(splits):
        tag = f's{s}c{i}'
        layers += [
            tfib.PACCoupling(shape[-1], split=split, name=f'pac_{tag}',
                             **coupling),
            tfib.Invertible1x1Conv(shape[-1], name=f'conv1x1_{tag}',
                                   **common),
            tfib.ActNorm(shape[-1], name=f'actnorm_{tag}', **common)]
    layers.append(tfb.Reshape([math.prod(shape)], list(shape)))
    super().__init__(
        tfb.Chain(list(reversed(layers))), image_shape,
        math.prod(image_shape), dtype, validate_args, parameters,
        name or f'pac_{variant}_{order}_flow'.replace('-', '_'))

  @property
  def image_shape(self):
    return self.data_shape


def pad_to_even(x, seed=None):
  """Pads odd-length feature vectors with one N(0, 1) feature.

  Karami et al. append each example's feature mean, which makes the padded
  density degenerate (its likelihood is unbounded). Here the extra feature
  is independent noise e ~ N(0, 1), so for any flow density p

    log p(x) >= E_e[ log p([x, e]) - log N(e; 0, 1) ],

  and `log p([x, e]) - log_noise` is an unbiased one-sample estimate of that
  bound. Even-length data pass through with `log_noise` = 0.

  Returns:
    (padded, log_noise): the padded data and log N(e; 0, 1) per example.
  """
  x = tf.convert_to_tensor(x)
  zeros = tf.zeros(tf.shape(x)[:-1], x.dtype)
  if x.shape[-1] % 2 == 0:
    return x, zeros
  shape = tf.concat([tf.shape(x)[:-1], [1]], axis=0)
  noise = (tf.random.normal(shape, dtype=x.dtype) if seed is None else
           tf.random.stateless_normal(shape, seed=[seed, 0], dtype=x.dtype))
  standard_normal = tfp.distributions.Normal(tf.zeros([], x.dtype),
                                             tf.ones([], x.dtype))
  return (tf.concat([x, noise], axis=-1),
          zeros + tf.reduce_sum(standard_normal.log_prob(noise), axis=-1))


def flow_config(flow):
  """A JSON-serialisable description of a flow built here (its class and
  constructor arguments), for Keras saving."""
  if type(flow) not in _FLOW_CLASSES.values():
    raise ValueError(f'only flows built by tfp_invconv.flows can be saved '
                     f'with their configuration, not {type(flow).__name__}.')
  arguments = {k: (v.name if isinstance(v, tf.DType) else v)
               for k, v in flow.parameters.items()}
  return dict(class_name=type(flow).__name__, config=arguments)


def flow_from_config(config):
  """The flow that `flow_config` described (with fresh weights)."""
  arguments = dict(config['config'])
  arguments['dtype'] = tf.as_dtype(arguments['dtype'])
  return _FLOW_CLASSES[config['class_name']](**arguments)


def base_distribution(latent_size, dtype=tf.float32, df=None):
  """The base over the flat latent: the standard normal, or with `df`
  Student's t of `df` degrees of freedom (location 0, scale 1) in every
  dimension. The t's log-density falls like -log|z| rather than -z^2 / 2,
  so an image a trained flow maps far out (a stroke where no training
  image has ink) costs tens of bits/dim rather than 1e10."""
  zero, one = tf.zeros([], dtype), tf.ones([], dtype)
  if df is None:
    return tfp.distributions.Sample(tfp.distributions.Normal(zero, one),
                                    [latent_size])
  return tfp.distributions.Sample(
      tfp.distributions.StudentT(tf.cast(df, dtype), zero, one), [latent_size])


def flow_distribution(flow, df=None):
  """`TransformedDistribution(base, flow)` for a flow built here (`df`: a
  Student's t base, `base_distribution`)."""
  return tfp.distributions.TransformedDistribution(
      base_distribution(flow.latent_size, flow.float_dtype, df), flow)


_FLOW_CLASSES = {cls.__name__: cls
                 for cls in (CInCFlow, GlowFlow, EmergingFlow,
                             SymmetricConvFlow, PACFlow,
                             SymmetricConvVectorFlow)}
