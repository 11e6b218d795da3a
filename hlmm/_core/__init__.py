"""Compiled kernels (Cython, BLAS/LAPACK through scipy.linalg.cython_blas/cython_lapack).

These are private: the model layer in :mod:`hlmm` validates inputs and calls them with
C-contiguous float64 arrays.
"""
import importlib as _importlib
import os as _os

_KERNELS = ("_bed", "_classfit", "_dosage", "_gram", "_hlm", "_levene", "_mixed")

for _name in _KERNELS:
    try:
        _importlib.import_module(f"{__name__}.{_name}")
    except ImportError as _exc:
        if not isinstance(_exc, ModuleNotFoundError) or _exc.name != f"{__name__}.{_name}":
            raise
        _here = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))
        raise ImportError(
            f"hlmm's compiled extensions are not built (no {__name__}.{_name}); you are "
            f"probably importing hlmm from its source tree ({_here}). Build them with "
            "`pip install -e .` in that directory (development), or install with "
            "`pip install .` and run from another directory."
        ) from None
