"""Build the Cython kernels in hlmm/_core.

The kernels call BLAS/LAPACK through scipy.linalg.cython_blas / cython_lapack, so
nothing needs linking: scipy's own OpenBLAS is used at run time.
"""
import glob
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def extensions():
    exts = []
    for pyx in sorted(glob.glob(os.path.join(HERE, "hlmm", "_core", "_*.pyx"))):
        name = os.path.splitext(os.path.relpath(pyx, HERE))[0].replace(os.sep, ".")
        exts.append(
            Extension(
                name,
                [os.path.relpath(pyx, HERE)],
                # C headers beside the kernels (e.g. bedsums.h): a change rebuilds them
                # (Cython tracks its own .pxi includes)
                depends=sorted(os.path.relpath(h, HERE) for h in
                               glob.glob(os.path.join(HERE, "hlmm", "_core", "*.h"))),
                include_dirs=[np.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=["-O3"],
            )
        )
    return cythonize(
        exts,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )


setup(ext_modules=extensions())
