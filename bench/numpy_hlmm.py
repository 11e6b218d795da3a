"""Plain-numpy HLMM: the same low-rank algorithm as hlmm.HLMM, without the Cython kernels.

Every O(n·l²) / O(n·l) pass over G (the weighted Gram ``GᵀWG``, the signed Grams
``Gᵀdiag(v_j∘w)G``, the cross products ``GᵀW[X y]`` and the per-row terms
``c_i = g_iᵀA⁻¹g_i``) is written with numpy/scipy calls on whole arrays, which is how
one would write it without compiled kernels (it allocates n×l temporaries).  The
l×l algebra and the projected Newton loop are hlmm's own (``HLMM.fit``), so both
implementations take the same iterations and the timings compare the kernels.
"""
import numpy as np
from scipy import linalg

from hlmm.models.hlmm import HLMM, _LowRankPoint


class _NumpyPoint(_LowRankPoint):
    def _gram(self, w):
        Gw = self.m.G * w[:, None]
        return Gw.T @ self.m.G

    def _signed_gram(self, a):
        return (self.m.G * a[:, None]).T @ self.m.G

    @staticmethod
    def _cross(A, B, w):
        return (A * w[:, None]).T @ B

    def _row_terms(self, z):
        U = linalg.solve_triangular(self.L, self.m.G.T, lower=True, check_finite=False)
        return np.einsum("ij,ij->j", U, U), self.m.G @ z


class NumpyHLMM(HLMM):
    """:class:`hlmm.HLMM` (general low-rank path) with numpy kernels."""

    def __init__(self, y, X, V, G):
        super().__init__(y, X, V, G, method="general")
        self._general_point = _NumpyPoint


def fit(y, X, V, G, **kw):
    """Fit and return the :class:`hlmm.FitResults`."""
    return NumpyHLMM(y, X, V, G).fit(**kw)
