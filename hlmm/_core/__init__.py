"""Compiled kernels (Cython, BLAS/LAPACK through scipy.linalg.cython_blas/cython_lapack).

These are private: the model layer in :mod:`hlmm` validates inputs and calls them with
C-contiguous float64 arrays.
"""
