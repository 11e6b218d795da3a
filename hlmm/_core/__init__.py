"""Compiled kernels (Cython, BLAS/LAPACK through scipy.linalg.cython_blas/cython_lapack).

These are private: the model layer in :mod:`hlmm` validates inputs and calls them with
C-contiguous float64 arrays.  Each is imported where it is used (the BLAS-calling ones
import scipy.linalg); importing this package only checks that they are all built.
"""
import importlib.machinery as _machinery
import os as _os

_KERNELS = ("_bed", "_bgen", "_classfit", "_dosage", "_format", "_gram", "_gxe", "_hlm",
            "_levene", "_mixed", "_multi", "_rows", "_standardise", "_text")

for _name in _KERNELS:
    if _machinery.PathFinder.find_spec(f"{__name__}.{_name}", __path__) is None:
        _here = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))
        raise ImportError(
            f"hlmm's compiled extensions are not built (no {__name__}.{_name}); you are "
            f"probably importing hlmm from its source tree ({_here}). Build them with "
            "`pip install -e .` in that directory (development), or install with "
            "`pip install .` and run from another directory."
        )
