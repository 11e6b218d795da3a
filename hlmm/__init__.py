"""hlmm: heteroskedastic linear (mixed) models for the mean and variance of a trait.

The model classes are imported on first use (``hlmm.HLM`` imports scipy), so that a
command that needs only part of the package does not pay for the rest.
"""
import importlib

from . import _core  # noqa: F401  (checks that the compiled extensions are built)
from .simulate import simulate  # the function, not the submodule of the same name

_LAZY = {"HLM": ("hlm", "HLM"), "FitResults": ("results", "FitResults"),
         "HLMM": ("mixed", "HLMM"), "hetlm": ("hetlm", None), "hetlmm": ("hetlmm", None)}

__all__ = ["HLM", "FitResults", "hetlm", "HLMM", "simulate", "hetlmm", "__version__"]


def __getattr__(name):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("hlmm")
        except PackageNotFoundError:  # running from a source tree
            value = "0+unknown"
    elif name in _LAZY:
        module, attr = _LAZY[name]
        value = importlib.import_module(f"{__name__}.{module}")
        if attr is not None:
            value = getattr(value, attr)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
