"""The PAC-flow coupling: a PAC transformer conditioned on the other half."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_invconv import nets
from tfp_invconv.bijectors import base
from tfp_invconv.bijectors.coupling import Coupling
from tfp_invconv.bijectors.logistic_mixture import LogisticMixtureLogit
from tfp_invconv.bijectors.pac_conv import PixelAdaptiveConv
from tfp_invconv.bijectors.slog import SLog

tfb = tfp.bijectors

VARIANTS = ('pac', 'emerging', 'realnvp')
MIN_SCALE = 1e-2
MIN_LENGTHSCALE = 1e-3
MIXTURE_LOG_SCALE_BOUND = 3.
# |log w| of the filters' centre diagonals (trained models stay below 0.3):
# with s >= MIN_SCALE it keeps U's diagonal s w >= 5e-4, which bounds the
# growth of the triangular solves' inverse relative to the taps.
FILTER_LOG_DIAGONAL_BOUND = 3.


def _square_sigmoid(raw, floor, offset=0.):
  return floor + (1. - floor) * tf.square(tf.sigmoid(raw + offset))


class PACTransform:
  """`bijector_fn` of the PAC coupling: the transformer of a block of
  `channels` channels (module doc), a `tfb.Chain` of its stages."""

  def __init__(self, channels, variant='pac', order='raster', kernel_size=5,
               features=16, components=4, solver='rows', dtype=tf.float32,
               name='pac'):
    if variant not in VARIANTS:
      raise ValueError(f'variant must be one of {VARIANTS}, got {variant!r}.')
    base.check_positive_int(kernel_size=kernel_size, features=features,
                            components=components)
    if kernel_size % 2 == 0:
      raise ValueError(f'kernel_size must be odd, got {kernel_size}.')
    self.channels, self.variant, self.order = channels, variant, order
    self.kernel_size, self.features, self.components = (
        kernel_size, features, components)
    self.solver, self.name = solver, name
    layer = base.parameter_layer(f'{name}_filters', dtype)
    convolutions = variant != 'realnvp'
    self._filters, self._log_diagonal = [], []
    for j in (1, 2):
      if convolutions:
        self._filters.append(base.assign_weight(
            layer, f'filters{j}', [kernel_size, kernel_size, channels,
                                   channels],
            value=base.random_normal(
                [kernel_size, kernel_size, channels, channels], 0.05,
                dtype)))
      self._log_diagonal.append(
          base.assign_weight(layer, f'log_diagonal{j}', [channels]))
    self._slog = SLog(channels, dtype=dtype, name=f'{name}_slog')
    self.keras_layers = [layer] + self._slog.keras_layers
    self._offsets = tf.constant(
        np.linspace(-1., 1., components) if components > 1 else [0.], dtype)

  def _linear_sizes(self, channels):
    adaptive = self.variant == 'pac'
    return ([self.features] if adaptive else []) + [channels] + (
        [channels] if adaptive else [])

  def _sizes(self, channels):
    """Conditioner outputs, in order: linear 1 (+ bias), the mixture,
    linear 2."""
    mixture = [self.components * channels] * 3
    return (self._linear_sizes(channels) + [channels] + mixture
            + self._linear_sizes(channels))

  def conditioner_outputs(self, channels):
    return sum(self._sizes(channels))

  def _linear(self, pieces, j, bias=None):
    """Stage j (1 or 2) of the transformer, from its conditioner outputs."""
    if self.variant == 'pac':
      raw_features, raw_scale, raw_lengthscale = pieces
      features = tf.tanh(raw_features)
      lengthscale = _square_sigmoid(raw_lengthscale, MIN_LENGTHSCALE)
    else:
      (raw_scale,), features, lengthscale = pieces, None, None
    log_scale = tf.math.log(_square_sigmoid(raw_scale, MIN_SCALE, 4.))
    log_diagonal = tf.clip_by_value(self._log_diagonal[j - 1],
                                    -FILTER_LOG_DIAGONAL_BOUND,
                                    FILTER_LOG_DIAGONAL_BOUND)
    if self.variant == 'realnvp':
      scale = tfb.Scale(log_scale=log_scale + log_diagonal)
      return scale if bias is None else tfb.Chain([tfb.Shift(bias), scale])
    return PixelAdaptiveConv(
        self._filters[j - 1], log_diagonal, log_scale, features,
        lengthscale, bias, order=self.order, solver=self.solver,
        name=f'{self.name}_pac{j}')

  def stages(self, params):
    """The transformer's bijectors in forward order."""
    pieces = tf.split(params, self._sizes(self.channels), axis=-1)
    n = len(self._linear_sizes(self.channels))
    first, bias, mixture, second = (pieces[:n], pieces[n], pieces[n + 1:n + 4],
                                    pieces[n + 4:])
    # [B, H, W, M * C] -> [B, H, W, C, M]: components on the last axis.
    components_last = tf.concat(
        [tf.shape(bias)[:-1], [self.components, self.channels]], axis=0)
    logits, locs, log_scales = [
        tf.transpose(tf.reshape(p, components_last), [0, 1, 2, 4, 3])
        for p in mixture]
    mixture = LogisticMixtureLogit(
        logits, locs + self._offsets,
        base.soft_clip(log_scales, MIXTURE_LOG_SCALE_BOUND))
    return [self._linear(first, 1, bias), mixture, self._linear(second, 2),
            self._slog]

  def __call__(self, params):
    return tfb.Chain(self.stages(params)[::-1], name=f'{self.name}_stages')


class PACCoupling(Coupling):
  """Two-block coupling with the PAC transformer (module doc).

  The conditioner of the first block x_1 gives every parameter of the
  transformer of the second block x_2 but its filters (PAC paper Fig. 3):

    Forward:  y_1 = x_1,
              y_2 = SLog(PAC_2(logit(F(PAC_1(x_2) + b))))
              PAC_j = `PixelAdaptiveConv` with features f_j, scales s_j and
              lengthscales l_j from NN(x_1), filters W_j learned;
              F the logistic-mixture CDF with weights, locations and scales
              from NN(x_1), fused with the logit (`LogisticMixtureLogit`)
    Log-det:  the sum of the stages' log-dets (PAC: sum log s + H W sum log w)
    Inverse:  the stages undone in reverse: S-Log in closed form, the PACs by
              their exact solves, F by bracketed root finding.

  Variants at matched parameter counts (the paper's Table 2):
    'pac'       the transformer above;
    'emerging'  the same masked convolutions with the kernel s alone (no
                pixel-adaptive factor): an emerging convolution with a
                per-pixel scale;
    'realnvp'   no convolutions: PAC_j is the elementwise scale s_j w_j.

  Bounds (App. C.3): f = tanh(.) in (-1, 1); s and l are "square sigmoids",
  s = s_min + (1 - s_min) sigmoid(. + 4)^2 in (s_min, 1) with s_min = 1e-2, so
  the diagonal s w of U never reaches 0, and l = l_min + (1 - l_min)
  sigmoid(.)^2 with l_min = 1e-3, so the kernel's exponent stays finite; the
  filters' centre diagonals exp(log w) have |log w| <= 3. The
  mixture's log-scales are soft-clipped to (-3, 3), its locations start at
  fixed distinct offsets (a zero-initialised conditioner would otherwise keep
  every component identical).

  Growth bound: that of its stages composed: `PixelAdaptiveConv` (linear;
  bounded diagonals), `LogisticMixtureLogit` (linear both ways, mixture
  log-scales in (-3, 3)), `SLog` (linear tails).

  ```python
  coupling = PACCoupling(4, split='checkerboard', order='s-curve')
  z = coupling.forward(x)            # x: [B, H, W, 4], W even
  ```

  References:
    Cooper, Tomczak (2023). Pixel-adaptive convolutions in normalizing flows
    (PAC flows).
  """

  def __init__(self, channels, split='checkerboard', variant='pac',
               order='raster', kernel_size=5, features=16, components=4,
               hidden_width=64, blocks=2, solver='rows', dtype=tf.float32,
               validate_args=False, name='pac_coupling'):
    """Args:
      channels: C of the input; even for a channel split.
      split: 'checkerboard' (blocks of [H, W/2, C]) or 'channel'.
      variant: 'pac', 'emerging' or 'realnvp' (module doc).
      order: pixel order of the masks, 'raster' or 's-curve'.
      kernel_size: K, odd.
      features: F, the conditioner's features per pixel.
      components: logistic-mixture components.
      hidden_width, blocks: the gated residual conditioner's width and
        block count.
      solver: 'rows' or 'jacobi', for the PAC inverses.
      dtype, validate_args, name: as for every bijector here.
    """
    parameters = dict(locals())
    base.check_positive_int(channels=channels, hidden_width=hidden_width,
                            blocks=blocks)
    block = channels if split == 'checkerboard' else channels // 2
    transform = PACTransform(block, variant, order, kernel_size, features,
                             components, solver, dtype, name)
    make_net = lambda c_in, c_out, net_name: nets.gated_resnet(
        c_in, c_out, hidden_width, blocks, dtype=dtype, name=net_name)
    super().__init__(channels, 2, transform, make_net, split=split,
                     dtype=dtype, validate_args=validate_args, name=name,
                     parameters=parameters)
