"""hlmm: heteroskedastic linear (mixed) models for the mean and variance of a trait.

The public face: ``HLM``, ``HLMM``, ``FitResults``, ``simulate`` and the 1.x API
``hlmm.hetlm`` and ``hlmm.hetlmm``.  The package's layers, bottom up (ARCHITECTURE.md):

- ``_core``: compiled kernels;  ``errors``, ``_threads``: shared by every layer;
- ``models``: the HLM and HLMM, their fits, standard errors and results;
- ``io``: genotype readers, phenotype and covariate tables, samples, outputs;
- ``scan``: the genome scan (null model, SNP blocks, engines, checkpoints, Dask);
- ``fit_run``, ``plots``, ``sim``, ``compat``: what the commands run;
- ``cli``: the ``hlmm`` command.

The model classes are imported on first use (``hlmm.HLM`` imports scipy), so that a
command that needs only part of the package does not pay for the rest.
"""
import importlib
import importlib.abc
import importlib.util
import sys

from . import _core  # noqa: F401  (checks that the compiled extensions are built)
from .sim.simulate import simulate  # the function, not the submodule of the same name

_LAZY = {"HLM": ("models.hlm", "HLM"), "FitResults": ("models.results", "FitResults"),
         "HLMM": ("models.hlmm", "HLMM"), "hetlm": ("compat.hetlm", None),
         "hetlmm": ("compat.hetlmm", None)}

# Module names of earlier versions that user code imports (``import hlmm.hetlmm``):
# served by the modules that hold them now.
_MOVED = {"hlmm.hetlm": "hlmm.compat.hetlm", "hlmm.hetlmm": "hlmm.compat.hetlmm",
          "hlmm.genotypes": "hlmm.compat.genotypes"}

__all__ = ["HLM", "FitResults", "hetlm", "HLMM", "simulate", "hetlmm", "__version__"]


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import hlmm.hetlm`` gives ``hlmm.compat.hetlm`` itself (one module object)."""

    def find_spec(self, name, path=None, target=None):
        if name in _MOVED:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(_MOVED[spec.name])

    def exec_module(self, module):
        pass


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())


def __getattr__(name):
    if name == "__version__":
        from ._version import version

        value = version()
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
