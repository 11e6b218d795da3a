"""Exact per-SNP fits with covariates refitted, for hard calls, from weighted
genotype-class moments (:mod:`hlmm.models.interaction_moments`): the default engine of
``--interaction`` (the SNP's model with x·E) and of ``--fit-covariates`` (without it).

Per block, one call of the shared class-sums kernel
(:func:`hlmm._core._multi.class_column_sums`, the packed genotypes read once) sums the
fixed per-individual features ``w⁰·z_a·z_b·u^μ`` and ``u^μ`` over each SNP's genotype
classes; the Newton fits of all the block's SNPs then cost O(1) in n each.  SNPs whose
fit leaves the Taylor bound of the weights (a strong effect moves the covariates'
variance effects far), or does not converge there, go to the per-SNP path of the scan
(the compiled GxE Newton, :func:`hlmm._core._gxe.fit_snp`, or ``HLM.fit``), counted.
"""
import numpy as np

from ..models.interaction_moments import MomentFits, MomentLayout
from .block_fits import _CODES, SnpFit


class MomentEngine:
    """The moments' features for one phenotype (the null model's designs ``X0``, ``V0``
    over the analysis sample, both beginning with the intercept, its trait ``y``, and
    E's columns ``e_cols`` in X0, none for --fit-covariates); :meth:`supported` says
    whether the layout fits (few variance covariates)."""

    def __init__(self, y, X0, V0, null, e_cols, memory=1 << 30):
        self.e_cols = list(e_cols)
        self.null = null
        u = V0[:, 1:]
        # X0's columns that are u's too (E; covariates in both designs): their
        # products with u's powers are moments already summed
        zu = [next((s for s in range(u.shape[1]) if np.array_equal(X0[:, a], u[:, s])), -1)
              if a else -1 for a in range(X0.shape[1])] + [-1]
        self.layout = MomentLayout.choose(X0.shape[1] + 1, u.shape[1], zu, u.shape[0],
                                          memory=memory)
        self._fallbacks = []     # per block, the SNPs left to the per-SNP fit (list.append:
                                 # blocks run in threads, and += on an int could lose one)
        if self.layout is None:
            return
        from .._core import _multi

        w0 = np.exp(-(V0 @ null.beta))
        F = self.layout.features(np.column_stack([X0, y]), u, w0)
        self.Bt = _multi.tile_columns(F)
        self.n_columns = F.shape[1]
        self.umax = np.abs(u).max(axis=0) if u.shape[0] else np.zeros(u.shape[1])

    @property
    def fallbacks(self):
        """SNPs this engine left to the per-SNP fit so far."""
        return sum(self._fallbacks)

    @property
    def supported(self):
        return self.layout is not None

    def sums(self, host, packed):
        """``(Mom, N)`` of the block's SNPs (rows of ``packed``, .bed bytes)."""
        from .._core import _multi

        lay = self.layout
        m = packed.shape[0]
        out = np.empty((m, 4, self.n_columns))
        _multi.class_column_sums(np.ascontiguousarray(packed), host.sample_index,
                                 host._count_a1, self.Bt, out)
        return lay.unpack(out)

    def fit_block(self, host, scan, packed, rows, hard):
        """SnpFits of a block (``host``: the GenomeScan, for its filters and the per-SNP
        path; ``scan``: the :class:`hlmm.scan.interaction.InteractionScan`, None for
        --fit-covariates)."""
        from .snp_filters import filter_codes

        m = packed.shape[0]
        fits = [None] * m
        hj = np.flatnonzero(hard)
        for j in np.flatnonzero(~hard):
            fits[j] = host._fit_one(host._analysis(rows, j))
        if not hj.size:
            return fits
        Mom, N = self.sums(host, packed[hj])
        nk = N[:, :, 0]
        n_l = nk.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = (nk[:, 1] + 2.0 * nk[:, 2]) / (2.0 * n_l)
        _, code = filter_codes(host.cfg, host.sample.n, n_l, f,
                               lambda j: np.rint(nk[j]).astype(np.int64))
        todo = np.flatnonzero((code == 0) & ((nk > 0).sum(axis=1) >= 2))
        cells = None
        if todo.size:
            xk = np.arange(3.0)[None, :] - 2.0 * f[todo, None]
            mf = MomentFits(self.layout, Mom[todo], N[todo], xk, self.e_cols,
                            self.null.alpha, self.null.beta, self.umax)
            th, fv, H, status = mf.fit()
            cells = self._cells(scan, mf, th, fv, H, status, n_l[todo])
        where = {int(r): i for i, r in enumerate(todo)}
        left = 0
        for r, j in enumerate(hj):
            nl, fr = int(n_l[r]), float(f[r])
            if code[r] != 0:
                fits[j] = SnpFit(nl, fr, None, _CODES[code[r]])
                continue
            i = where.get(r)
            if i is None or not cells["ok"][i]:
                left += i is not None
                fits[j] = host._fit_one(host._hard_dosages(packed, j))   # per-SNP Newton
                continue
            fit = {k: float(cells[k][i]) for k in
                   ("likelihood", "add", "add_se", "var", "var_se")}
            if "extra" in cells:
                fit["extra"] = cells["extra"][i]
            fits[j] = SnpFit(nl, fr, fit)
        self._fallbacks.append(left)
        return fits

    def _cells(self, scan, mf, th, f, H, status, n_l):
        p, q0 = mf.p, mf.q0
        ok = status == 0
        ca = np.broadcast_to(np.eye(p), (th.shape[0], p, p)).copy()   # (rows not ok)
        var_se = np.full(th.shape[0], np.nan)
        if ok.any():
            with np.errstate(invalid="ignore"):
                try:
                    a, b = mf.covariances(H[ok], np.flatnonzero(ok))
                    ca[ok], var_se[ok] = a, np.sqrt(b[:, q0, q0])
                except np.linalg.LinAlgError:
                    ok[:] = False
        # b: the variance intercept and the SNP's variance effect (last of β)
        res = {"alpha": th[:, :p], "alpha_cov": ca, "b": th[:, [p, p + q0]],
               "var_se": var_se, "loglik": -0.5 * (f + n_l * np.log(2.0 * np.pi)),
               "converged": ok & np.isfinite(f)}
        if scan is not None:
            return scan._class_cells(res)
        # --fit-covariates: the SNP's effects are the last of α and of β
        add_se = np.sqrt(np.maximum(ca[:, p - 1, p - 1], 0.0))
        return {"likelihood": res["loglik"], "add": th[:, p - 1], "add_se": add_se,
                "var": th[:, p + q0], "var_se": var_se,
                "ok": res["converged"] & (add_se > 0) & np.isfinite(var_se) & (var_se > 0)}

    def note(self):
        what = "GxE: each SNP's full HLM" if self.e_cols else "covariates refitted per SNP"
        return (f" ({what}, exact MLE from weighted genotype-class moments, Taylor order "
                f"{self.layout.D} for the weights' covariate part; SNPs beyond its bound "
                "fitted one by one)")
