"""Class Grams of an HLMM scan's SNPs formed from a recent SNP's (linkage disequilibrium).

Per SNP, :class:`hlmm.scan.class_engines.HLMMClassScan` needs, for each genotype class k
(0, 1, 2, and −1 for the missing calls) but the largest, ``M_k = Σ_{i∈k} g_i g_iᵀ`` and
``S_k = Σ_{i∈k} Y_iᵀ g_i`` (Y's columns: ones, then the phenotypes; the largest class is
the totals minus the others).  Formed directly, that is one syrk over the rows outside
the largest class.  Neighbouring SNPs in LD put most individuals in the same class, so
:class:`LDGrams` keeps the class statistics of the last SNPs it formed and starts each
SNP from the one with the fewest rows to move (either allele orientation: an earlier
SNP's class k is this one's class 2 − k when its alleles are swapped), adding the rows
that joined each class and removing those that left (``_gram.gram_update_rows``).

Exactness: rounding accumulates along a chain of updates.  A chain is cut (the SNP
formed directly) after ``max_depth`` updates, and every updated Gram's diagonal is
checked against exact sums over its class's rows: with ``C`` the l × 4 matrix of a
column of ones and three columns of random signs and ``R = (G∘G)C`` (n × 4, formed once,
O(n·l)), ``diag(M_k)ᵀC`` must equal ``Σ_{i∈k} R_i`` (O(rows), where summing the
squares of the rows' l entries took a third of the update's time) within ``rtol``
times ``tr(M_k)/l``, the mean diagonal entry.  Drift δ in a single entry moves each of
the four sums by δ, so the test fires where the entry-wise test ``|ΔM_jj| >
rtol·max_j M_jj`` it replaces would, or earlier; drift of random sign in every entry
moves them by ~√l·δ and is caught earlier still.  Rounding moves them by ~eps·tr(M_k)
times a small factor, far below the bound at ``rtol`` = 1e-10.  A failure recomputes the
SNP directly.  The updates are the same sums in another order, so each SNP's
statistics, and fit, agree with those of the SNP formed alone to rounding.

Newton starts at the optimum of the SNP the Grams came from (:meth:`LDGrams.start`);
dosage SNPs, fitted without class Grams, start from the nearest recent dosage SNP's
optimum (:class:`LDStarts`).
"""
import numpy as np

from .._core import _gram

#: default memory for one cache's statistics (bytes; a cache per thread): 8 SNPs at
#: l = 500, where 8 to 64 were as fast on simulated chromosomes (bench/bench_hlmm_ld.py)
BUDGET = 32 << 20


def class_rows(codes, largest):
    """``(k, rows)`` for each class k (−1 missing, 0, 1, 2) but ``largest`` that has rows."""
    for k in (-1, 0, 1, 2):
        if k != largest:
            rows = np.flatnonzero(codes == k).astype(np.intp)
            if rows.size:
                yield k, rows


def nearest(codes, kept, largest, cost, limit, barred=()):
    """``(r, flip)``: the row of ``kept`` (earlier SNPs' codes) with the fewest rows to
    move to ``codes``, in either allele orientation (``_gram.ld_costs`` into ``cost``,
    len(kept) × 2), or None unless fewer than ``limit``; rows ``barred`` are skipped."""
    _gram.ld_costs(codes, kept, largest, cost)
    for r in barred:
        cost[r] = np.iinfo(np.intp).max
    r, flip = np.unravel_index(int(np.argmin(cost)), cost.shape)
    if cost[r, flip] >= limit:
        return None
    return int(r), bool(flip)


def direct_parts(G, codes, largest, Y):
    """``{k: (M_k, S_k)}`` for the classes but ``largest`` with rows, each one syrk over
    its rows (``_gram.gram_products_rows``)."""
    l, P = G.shape[1], Y.shape[1]
    out = {}
    for k, rows in class_rows(codes, largest):
        Mk, Sk = np.empty((l, l)), np.empty((P, l))
        _gram.gram_products_rows(G, rows, Y, Mk, Sk)
        out[k] = (Mk, Sk)
    return out


def kept_fit(theta, f, hlm):
    """A SNP's optimum θ = (β0, β1, h2) and HLM estimates ``hlm`` = (β0, β1), with
    ``x = g − 2f``, kept as log d = a + b·g: ``(a, b, h2, a_HLM, b_HLM)``."""
    return (theta[0] - 2.0 * f * theta[1], theta[1], theta[2],
            hlm[0] - 2.0 * f * hlm[1], hlm[1])


def shifted_start(fit, flip, f, hlm):
    """Newton's start (β0, β1, h2) for a SNP (frequency ``f``, HLM estimates ``hlm``)
    from a :func:`kept_fit` of a SNP in LD with it (``flip``: its alleles swapped, g
    read as 2 − g): that optimum, its (a, b) moved by the difference between the two
    SNPs' HLM estimates."""
    a, b, h2, ah, bh = fit
    if flip:                      # g was 2 − g: log d = a + 2b − b·g
        a, b, ah, bh = a + 2.0 * b, -b, ah + 2.0 * bh, -bh
    a += hlm[0] - 2.0 * f * hlm[1] - ah
    b += hlm[1] - bh
    return np.array([a + 2.0 * f * b, b, h2])


class LDStarts:
    """Newton starts for SNPs fitted without class Grams (dosage SNPs): the fits of the
    last ``capacity`` such SNPs with their best-guess classes (dosages rounded, −1
    missing); a SNP starts from the nearest (fewest rows to move, as
    :class:`LDGrams` counts them, either orientation) when that moves fewer than
    ``max_fraction`` of the rows outside its largest class (from farther SNPs the
    start was no better than the HLM one)."""

    def __init__(self, n, capacity=8, max_fraction=0.7):
        self.codes = np.empty((capacity, n), dtype=np.int8)
        self.fits = [None] * capacity
        self.max_fraction = max_fraction
        self.next = self.count = 0
        self._cost = np.empty((capacity, 2), dtype=np.intp)

    def start(self, codes, largest, f, hlm):
        """(β0, β1, h2) to start the SNP of int8 ``codes`` at, or None."""
        if self.count == 0:
            return None
        hit = nearest(codes, self.codes[:self.count], largest, self._cost[:self.count],
                      self.max_fraction * int((codes != largest).sum()))
        return None if hit is None else shifted_start(self.fits[hit[0]], hit[1], f, hlm)

    def keep(self, codes, theta, f, hlm):
        """Record a fitted SNP (its optimum θ, frequency and HLM estimates)."""
        self.codes[self.next] = codes
        self.fits[self.next] = kept_fit(theta, f, hlm)
        self.count = max(self.count, self.next + 1)
        self.next = (self.next + 1) % len(self.fits)


class LDGrams:
    """The class statistics of up to ``capacity`` recent SNPs of one ``(G, Y)``.

    Parameters
    ----------
    G : (n, l) C-ordered design; M_all, S_all : ``GᵀG`` and ``YᵀG``; Y : (n, P) the
    columns of ``S`` (ones, then phenotypes); capacity : SNPs kept (None: as many as
    ``budget`` bytes hold, 2 to 64); max_depth : updates before a chain is cut;
    max_fraction : update only if it moves fewer rows than this fraction of the direct
    syrk's; rtol : the diagonal check's tolerance.
    """

    def __init__(self, G, M_all, Y, S_all, capacity=None, budget=None, max_depth=32,
                 max_fraction=0.7, rtol=1e-10):
        self.G, self.M_all, self.Y, self.S_all = G, M_all, Y, S_all
        n, l = G.shape
        P = Y.shape[1]
        if capacity is None:
            budget = BUDGET if budget is None else budget
            per_snp = 2 * 8 * (l * l + P * l) + n
            capacity = int(min(64, max(2, budget // per_snp)))
        self.capacity = int(capacity)
        self.max_depth, self.max_fraction, self.rtol = max_depth, max_fraction, rtol
        # the diagonal check's projections (module docstring); fixed signs, so that a
        # scan's results do not depend on a seed
        self._proj = np.ones((l, 4))
        self._proj[:, 1:] = np.where(np.random.default_rng(0).random((l, 3)) < 0.5, -1.0, 1.0)
        self._rowsq = np.empty((n, 4))
        for i in range(0, n, 4096):
            blk = G[i:i + 4096]
            np.matmul(blk * blk, self._proj, out=self._rowsq[i:i + 4096])
        self.codes = np.empty((self.capacity, n), dtype=np.int8)
        self.entries = [None] * self.capacity  # (parts, largest, depth)
        # per slot and phenotype q: the fit's (a, b, h2), log d = a + b·k in class k
        self.fits = [{} for _ in range(self.capacity)]
        # (slot written, slot started from, allele swap, that slot's fits)
        self.last = (None, None, False, None)
        self.next = self.count = 0
        # Slots in use: 2 to start with, doubled at each update, back to 2 (the others
        # freed) after ``capacity`` SNPs in a row formed directly: without LD (e.g.
        # independent simulated SNPs) the cache holds 2 SNPs, not ``capacity``.
        self.active, self.misses = min(2, self.capacity), 0
        self.counts = {"direct": 0, "updated": 0, "drift": 0}
        self._cost = np.empty((self.capacity, 2), dtype=np.intp)

    def parts(self, codes, largest, n_direct):
        """``{k: (M_k, S_k)}`` of this SNP's classes but ``largest`` (int8 ``codes``;
        ``n_direct``: the rows outside the largest class, the direct syrk's size).
        The returned arrays are kept (read-only) for later SNPs."""
        best = self._nearest(codes, largest, n_direct)
        out, r, flip = None, None, False
        if best is not None:
            r, flip = best
            out = self._update(r, flip, codes, largest)
            if out is None:
                self.counts["drift"] += 1
        if out is None:
            r = None
            out = direct_parts(self.G, codes, largest, self.Y)
            depth = 0
            self.counts["direct"] += 1
        else:
            depth = self.entries[r][2] + 1
            self.counts["updated"] += 1
        self.codes[self.next] = codes
        # (the start's fits taken before the slot may be reused for this SNP)
        self.last = (self.next, r, flip, None if r is None else self.fits[r])
        self.entries[self.next] = (out, largest, depth)
        self.fits[self.next] = {}
        self.count = max(self.count, self.next + 1)
        self.misses = 0 if r is not None else self.misses + 1
        if r is not None:
            self.active = min(self.capacity, 2 * self.active)
        elif self.misses >= self.capacity and self.active > 2:
            self._shrink()
        self.next = (self.next + 1) % self.active
        return out

    def _shrink(self):
        """Keep only the SNP just written, in slot 0; free the others."""
        w = self.next
        self.codes[0] = self.codes[w]
        self.entries[0], self.fits[0] = self.entries[w], self.fits[w]
        for k in range(1, self.capacity):
            self.entries[k], self.fits[k] = None, {}
        self.last = (0,) + self.last[1:]
        self.next, self.count, self.active = 0, 1, 2

    def start(self, q, f, hlm):
        """Phenotype q's variance parameters (β0, β1, h2) to start Newton at, or None:
        the optimum of the SNP the last :meth:`parts` started from, in this SNP's terms
        (counted-allele frequency ``f``, ``x_k = k − 2f``), its (β0, β1) moved by the
        difference between the two SNPs' HLM estimates (``hlm``: this SNP's)."""
        _, r, flip, fits = self.last
        fit = None if r is None else fits.get(q)
        return None if fit is None else shifted_start(fit, flip, f, hlm)

    def keep(self, q, theta, f, hlm):
        """Record phenotype q's optimum θ = (β0, β1, h2) and HLM estimates ``hlm`` =
        (β0, β1) of the last :meth:`parts` SNP (frequency ``f``), as log d = a + b·k."""
        slot = self.last[0]
        if slot is not None:
            self.fits[slot][q] = kept_fit(theta, f, hlm)

    def _nearest(self, codes, largest, n_direct):
        """(slot, allele swap) of the cheapest start, or None where the direct syrk is."""
        if self.count == 0:
            return None
        barred = [r for r in range(self.count)
                  if self.entries[r] is None or self.entries[r][2] >= self.max_depth]
        return nearest(codes, self.codes[:self.count], largest, self._cost[:self.count],
                       self.max_fraction * n_direct, barred)

    def _update(self, r, flip, codes, largest):
        """This SNP's statistics from slot r's, or None if the diagonal check fails."""
        old, old_largest, _ = self.entries[r]
        ref = self.codes[r]
        if flip:
            ref = np.where(ref >= 0, 2 - ref, ref).astype(np.int8)
            old = {(2 - k if k >= 0 else k): v for k, v in old.items()}
            old_largest = 2 - old_largest if old_largest >= 0 else old_largest
        moved = np.flatnonzero(codes != ref)
        c_new, c_old = codes[moved], ref[moved]
        l, P = self.G.shape[1], self.Y.shape[1]
        out = {}
        for k, rows in class_rows(codes, largest):
            if k in old:
                Mk, Sk = old[k][0].copy(), old[k][1].copy()
            elif k == old_largest:       # the totals minus the earlier SNP's others
                Mk, Sk = self.M_all.copy(), np.array(self.S_all, dtype=float)
                for Mo, So in old.values():
                    Mk -= Mo
                    Sk -= So
            else:                        # the class had no rows
                Mk, Sk = np.zeros((l, l)), np.zeros((P, l))
            add = moved[c_new == k].astype(np.intp)
            rem = moved[c_old == k].astype(np.intp)
            _gram.gram_update_rows(self.G, add, rem, self.Y, Mk, Sk)
            exact = self._rowsq[rows].sum(axis=0)
            dk = np.diagonal(Mk)
            if np.max(np.abs(dk @ self._proj - exact)) > \
                    self.rtol * max(exact[0], 1e-300) / l:
                return None
            out[k] = (Mk, Sk)
        return out
