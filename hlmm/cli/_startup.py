"""Start-up of the ``hlmm`` process: what it costs before any work, cut where it can be.

* The cyclic garbage collector is off while the command's modules are imported (they
  make tens of thousands of objects that live all run; collecting them repeatedly finds
  nothing) and what they made is then frozen out of later collections (``gc.freeze``).
* scipy (≥ 1.14) clones numpy's namespace when it is first imported (our kernels import
  ``scipy.linalg.cython_blas``, so every scan does): it touches every lazily imported
  numpy submodule, among them ``numpy.f2py`` (which imports charset_normalizer when it
  is installed) and ``numpy.testing`` (unittest), ~0.1 s of imports no scan uses.
  Those not yet imported are registered as lazy modules
  (:class:`importlib.util.LazyLoader`): the module object exists, and the first use of
  one of its attributes executes it, as an import would have.
"""
import gc
import importlib.util
import sys

# numpy submodules a scan never uses, that scipy's namespace clone would import
_UNUSED = ("f2py", "testing")


def begin():
    """Call first thing: no cyclic collections while the command's modules load."""
    gc.disable()


def defer_numpy_submodules():
    """numpy's unused submodules as lazy modules (see the module docstring)."""
    try:
        import numpy
    except ImportError:          # (numpy is a dependency; nothing to do without it)
        return
    for short in _UNUSED:
        name = f"numpy.{short}"
        if name in sys.modules or short in vars(numpy):
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or spec.loader is None:
            continue
        loader = importlib.util.LazyLoader(spec.loader)
        spec.loader = loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loader.exec_module(module)
        # (as the import system does for a loaded submodule: numpy.__getattr__ is then
        # not asked for it)
        setattr(numpy, short, module)


def ready():
    """Call once the command's modules are imported: freeze them, collect again."""
    gc.freeze()
    gc.enable()
