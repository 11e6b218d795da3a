"""hlmm: heteroskedastic linear (mixed) models for the mean and variance of a trait."""
from importlib.metadata import PackageNotFoundError, version as _version

from .hlm import HLM
from .results import FitResults
from . import hetlm
from .mixed import HLMM
from .simulate import simulate
from . import hetlmm

try:
    __version__ = _version("hlmm")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = ["HLM", "FitResults", "hetlm", "HLMM", "simulate", "hetlmm", "__version__"]
