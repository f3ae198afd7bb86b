"""Invertible-convolution flow layers as `tfp.bijectors.Bijector`s.

Every bijector's `forward` is its paper's normalizing direction (data ->
latent); flow builders in `tfp_invconv.flows` invert the chain.
"""

from tfp_invconv.bijectors.actnorm import ActNorm
from tfp_invconv.bijectors.actnorm import data_dependent_init
from tfp_invconv.bijectors.base import FlowBijectorBase
from tfp_invconv.bijectors.base import collect_keras_layers
from tfp_invconv.bijectors.cinc_conv import CInCConv2D
from tfp_invconv.bijectors.conf_coupling import CONFCoupling
from tfp_invconv.bijectors.coupling import AffineCoupling
from tfp_invconv.bijectors.coupling import AffineTransform
from tfp_invconv.bijectors.coupling import CheckerboardSplit
from tfp_invconv.bijectors.coupling import Coupling
from tfp_invconv.bijectors.coupling import QuadCoupling
from tfp_invconv.bijectors.coupling import SplineCoupling
from tfp_invconv.bijectors.coupling import SplineTransform
from tfp_invconv.bijectors.emerging_conv import EmergingConv2D
from tfp_invconv.bijectors.factor_out import FactorOut
from tfp_invconv.bijectors.logistic_mixture import LogisticMixtureLogit
from tfp_invconv.bijectors.logistic_mixture import logistic_mixture_cdf
from tfp_invconv.bijectors.memory_saving import Recomputed
from tfp_invconv.bijectors.memory_saving import Reversible
from tfp_invconv.bijectors.one_by_one import Invertible1x1Conv
from tfp_invconv.bijectors.pac_conv import PixelAdaptiveConv
from tfp_invconv.bijectors.pac_coupling import PACCoupling
from tfp_invconv.bijectors.priors import ConditionalPrior
from tfp_invconv.bijectors.priors import LearnedPrior
from tfp_invconv.bijectors.slog import SLog
from tfp_invconv.bijectors.squeeze import Squeeze
from tfp_invconv.bijectors.symmetric_conv import SymmetricConv
