"""tfp_invconv: invertible-convolution normalizing flows for TFP."""

from tfp_invconv import bijectors
from tfp_invconv import solvers
from tfp_invconv.flows import CInCFlow
from tfp_invconv.flows import EmergingFlow
from tfp_invconv.flows import GlowFlow
from tfp_invconv.flows import PACFlow
from tfp_invconv.flows import SymmetricConvFlow
from tfp_invconv.flows import SymmetricConvVectorFlow
from tfp_invconv.flows import pad_to_even
from tfp_invconv.flows import flow_distribution

__version__ = '0.1.0'
