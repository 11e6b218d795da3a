"""The scan engine: .bed class statistics/decoding, per-SNP HLM and HLMM class fits.

Oracles are independent: bed_reader for decoding, hlmm.HLM for the HLM fits, and a dense
HLMM (Σ = D + h2·GGᵀ formed explicitly, scipy optimisers, numdifftools derivatives).
"""
from concurrent.futures import ThreadPoolExecutor

import numdifftools as nd
import numpy as np
import pytest
from bed_reader import open_bed, to_bed
from scipy import linalg, optimize

import hlmm
from hlmm._core import _bed
from hlmm.scan.class_engines import H2_MIN, HLMClassScan, HLMMClassScan

LOG2PI = np.log(2 * np.pi)


# --- .bed decoding -------------------------------------------------------------------
@pytest.fixture(scope="module")
def bedfile(tmp_path_factory):
    rng = np.random.default_rng(11)
    n, m = 103, 29                       # n not a multiple of 4
    f = rng.uniform(0.02, 0.6, m)
    g = rng.binomial(2, f, (n, m)).astype(np.float32)
    g[rng.random((n, m)) < 0.08] = np.nan
    g[:, 3] = 0                          # monomorphic
    g[:, 4] = np.nan                     # all missing
    path = str(tmp_path_factory.mktemp("bed") / "t.bed")
    to_bed(path, g)
    raw = np.fromfile(path, dtype=np.uint8)
    assert raw[:3].tolist() == [0x6C, 0x1B, 0x01]
    packed = np.ascontiguousarray(raw[3:].reshape(m, -1))
    return path, packed, n, m


def _indices(n, rng):
    return {"identity": np.arange(n, dtype=np.intp),
            "prefix": np.arange(n - 5, dtype=np.intp),
            "permuted subset": rng.permutation(n)[: n - 17].astype(np.intp)}


@pytest.mark.parametrize("count_a1", [True, False])
def test_decode_and_class_stats_match_bed_reader(bedfile, count_a1):
    path, packed, n, m = bedfile
    rng = np.random.default_rng(3)
    with open_bed(path, count_A1=count_a1) as bed:
        ref = bed.read(dtype="float64")                    # n × m, NaN = missing
    for name, idx in _indices(n, rng).items():
        y = rng.normal(size=idx.size) + 0.5
        codes = np.empty((m, idx.size), dtype=np.int8)
        _bed.decode_codes(packed, idx, count_a1, codes)
        g = ref[idx].T
        np.testing.assert_array_equal(codes, np.where(np.isnan(g), -1, g), err_msg=name)
        stats = np.empty((m, 9))
        _bed.class_stats(packed, idx, y, count_a1, stats)
        for k in range(3):
            sel = g == k
            np.testing.assert_array_equal(stats[:, 3 * k], sel.sum(1), err_msg=name)
            np.testing.assert_allclose(stats[:, 3 * k + 1], sel @ y, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(stats[:, 3 * k + 2], sel @ y**2, rtol=1e-12, atol=1e-12)


def test_bed_kernels_reject_bad_input(bedfile):
    _, packed, n, m = bedfile
    with pytest.raises(IndexError):
        _bed.class_stats(packed, np.array([0, 4 * packed.shape[1]], dtype=np.intp),
                         np.zeros(2), True, np.empty((m, 9)))
    with pytest.raises(ValueError):
        _bed.class_stats(packed, np.arange(n, dtype=np.intp), np.zeros(n - 1), True,
                         np.empty((m, 9)))
    with pytest.raises(ValueError):
        _bed.decode_codes(packed, np.arange(n, dtype=np.intp), True,
                          np.empty((m, n - 1), dtype=np.int8))


def test_bed_kernels_thread_safe(bedfile):
    _, packed, n, m = bedfile
    rng = np.random.default_rng(5)
    idx = rng.permutation(n).astype(np.intp)
    y = rng.normal(size=n)

    def run(_):
        out = np.empty((m, 9))
        _bed.class_stats(packed, idx, y, False, out)
        return out
    serial = run(0)
    with ThreadPoolExecutor(4) as ex:
        for out in ex.map(run, range(16)):
            np.testing.assert_array_equal(out, serial)


# --- HLM from class statistics --------------------------------------------------------
def _stats(g, y):
    st = np.zeros(9)
    for k in range(3):
        sel = g == k
        st[3 * k: 3 * k + 3] = sel.sum(), y[sel].sum(), (y[sel] ** 2).sum()
    return st


def _hlm_cases(rng, n=400):
    cases = []
    for f in (0.05, 0.2, 0.45, 0.7):
        g = rng.binomial(2, f, n).astype(float)
        g[rng.random(n) < 0.06] = np.nan
        cases.append(("missing f=%g" % f, g))
    g = np.zeros(n)
    g[rng.choice(n, 40, replace=False)] = 1
    g[rng.choice(np.flatnonzero(g == 0), 3, replace=False)] = 2
    cases.append(("rare: 3 carriers of class 2", g))
    g = (rng.random(n) < 0.3).astype(float)
    cases.append(("class 2 absent", g))
    g = 2 - (rng.random(n) < 0.2).astype(float)
    cases.append(("class 0 absent", g))
    return cases


def test_hlm_class_scan_matches_hlm():
    rng = np.random.default_rng(7)
    n = 400
    cases = _hlm_cases(rng, n)
    ys, stats = [], []
    for _, g in cases:
        gg = np.nan_to_num(g)
        y = 0.2 * gg + rng.normal(size=n) * np.exp(0.25 * gg)
        ys.append(y)
        stats.append(_stats(g, y))
    res = HLMClassScan(ys[0]).fit_block(np.array(stats))
    assert res["ok"].all(), res["reason"]
    for j, ((name, g), y) in enumerate(zip(cases, ys)):
        keep = ~np.isnan(g)
        x = g[keep] - g[keep].mean()
        X = np.column_stack([np.ones(keep.sum()), x])
        ref = hlmm.HLM(y[keep], X, X).fit()
        assert ref.converged
        assert res["n"][j] == keep.sum()
        assert res["freq"][j] == pytest.approx(g[keep].mean() / 2, rel=1e-14)
        mine = [res[k][j] for k in ("add", "add_se", "var", "var_se")]
        want = [ref.alpha[1], ref.bse[1], ref.beta[1], ref.bse[3]]
        np.testing.assert_allclose(mine, want, rtol=1e-6, err_msg=name)
        assert abs(res["likelihood"][j] - ref.loglik) < 1e-8, name
        assert res["reason"][j] == ""


def test_hlm_class_scan_converges_on_every_polymorphic_snp():
    # large n: the Newton decrement near the optimum falls below the rounding of
    # f ~ n, which once stalled the line search ('not converged' on an ordinary SNP)
    stalled = [2495.0, 71.3972941091442, 2595.4792023231776, 8825.0, -39.78845252028658,
               8610.100072324787, 8482.0, -38.70012872600168, 8288.680645811082]
    rng = np.random.default_rng(12)
    n, m = 20000, 300
    g = rng.binomial(2, rng.uniform(0.01, 0.99, m), (n, m)).astype(np.int8)
    y = rng.normal(size=n)
    stats = np.array([stalled] + [_stats(g[:, j], y) for j in range(m)])
    res = HLMClassScan(y).fit_block(stats)
    assert res["ok"].all(), set(res["reason"])
    for j in (1, 2, 3):
        x = g[:, j - 1] - g[:, j - 1].mean()
        X = np.column_stack([np.ones(n), x])
        ref = hlmm.HLM(y, X, X).fit()
        np.testing.assert_allclose([res["add"][j], res["var"][j]], [ref.alpha[1], ref.beta[1]],
                                   rtol=1e-6)
        assert abs(res["likelihood"][j] - ref.loglik) < 1e-8


def test_hlm_class_scan_failures_are_nan():
    rng = np.random.default_rng(8)
    n = 50
    y = rng.normal(size=n)
    mono = _stats(np.ones(n), y)
    none = _stats(np.full(n, np.nan), y)
    g = np.zeros(n)
    g[0] = 1                              # two classes, one of them a single carrier
    single = _stats(g, y)
    res = HLMClassScan(y).fit_block(np.array([mono, none, single]))
    assert not res["ok"].any()
    assert list(res["reason"][:2]) == ["monomorphic", "no calls"]
    assert "degenerate" in res["reason"][2]
    for k in ("likelihood", "add", "add_se", "var", "var_se"):
        assert np.isnan(res[k]).all(), k
    assert res["n"].tolist() == [n, 0, n]


# --- HLMM from class statistics -------------------------------------------------------
def _random_design(rng, n, l):
    G = rng.binomial(2, rng.uniform(0.1, 0.5, l), (n, l)).astype(float)
    return np.ascontiguousarray((G - G.mean(0)) / G.std(0) / np.sqrt(l))


def _hlmm_data(seed, n=160, l=10, f=0.3, h2=0.4, miss=0.05, two_classes=False):
    rng = np.random.default_rng(seed)
    G = _random_design(rng, n, l)
    codes = rng.binomial(2 - two_classes, f, n).astype(np.int8)
    codes[rng.random(n) < miss] = -1
    gg = np.where(codes < 0, 0, codes)
    y = np.sqrt(h2) * G @ rng.normal(size=l) + rng.normal(size=n) * np.exp(0.2 * gg) \
        + 0.15 * gg
    return y - y.mean(), G, codes


class Dense:
    """The HLMM on one SNP's called individuals with Σ formed explicitly."""

    def __init__(self, y, G, codes):
        keep = codes >= 0
        g = codes[keep].astype(float)
        self.X = np.column_stack([np.ones(keep.sum()), g - g.mean()])
        self.y, self.G = y[keep], G[keep]
        self.K = self.G @ self.G.T

    def loglik(self, p):
        a, b, h2 = p[:2], p[2:4], p[4]
        c = linalg.cho_factor(np.diag(np.exp(self.X @ b)) + h2 * self.K)
        r = self.y - self.X @ a
        return -0.5 * (len(r) * LOG2PI + 2 * np.log(np.diag(c[0])).sum()
                       + r @ linalg.cho_solve(c, r))

    def profile(self, t):
        c = linalg.cho_factor(np.diag(np.exp(self.X @ t[:2])) + t[2] * self.K)
        a = linalg.solve(self.X.T @ linalg.cho_solve(c, self.X),
                         self.X.T @ linalg.cho_solve(c, self.y))
        return self.loglik(np.r_[a, t]), a

    def profile_gradient(self, t):
        """dL/d(β0, β1, h2) at α̂, from the dense formula
        ∂L/∂θ = −½[tr(Σ⁻¹Σ_θ) − rᵀΣ⁻¹Σ_θΣ⁻¹r] (independent of the class statistics)."""
        d = np.exp(self.X @ t[:2])
        Si = linalg.inv(np.diag(d) + t[2] * self.K)
        _, a = self.profile(t)
        e = Si @ (self.y - self.X @ a)
        gb = -0.5 * self.X.T @ (d * (np.diag(Si) - e * e))
        gh = -0.5 * (np.sum(Si * self.K) - e @ self.K @ e)
        return np.r_[gb, gh]

    def brute_force(self, starts):
        best = None
        for s in starts:
            r = optimize.minimize(lambda t: -self.profile(t)[0], s, method="L-BFGS-B",
                                  jac=lambda t: -self.profile_gradient(t),
                                  bounds=[(None, None)] * 2 + [(H2_MIN, None)],
                                  options=dict(ftol=1e-15, gtol=1e-9, maxiter=5000))
            if best is None or r.fun < best.fun:
                best = r
        return best.x, -best.fun


CASES = {"f=0.3, missing": dict(seed=1),
         "f=0.7 (class 2 largest)": dict(seed=2, f=0.7),
         "two classes": dict(seed=3, f=0.3, miss=0.1, two_classes=True)}


@pytest.fixture(scope="module", params=list(CASES))
def snp(request):
    y, G, codes = _hlmm_data(**CASES[request.param])
    scan = HLMMClassScan(y, G, h2_init=0.2)
    return scan, Dense(y, G, codes), codes


def test_hlmm_class_loglik_and_gradient_match_dense(snp):
    scan, dense, codes = snp
    model = scan.class_model(codes)
    rng = np.random.default_rng(4)
    for _ in range(3):
        p = np.r_[rng.normal(scale=0.3, size=4), rng.uniform(0.05, 0.9)]
        assert model.loglik(p[:2], p[2:4], p[4]) == pytest.approx(dense.loglik(p), rel=1e-11)
        fd = nd.Gradient(dense.loglik, step=1e-5)(p)
        np.testing.assert_allclose(model.gradient(p[:2], p[2:4], p[4]), fd,
                                   rtol=1e-6, atol=1e-6 * np.abs(fd).max())
        # profile: α̂ is the GLS estimate and the profile gradient the partial one
        lp, a = dense.profile(p[2:])
        assert model.profile_loglik(p[2:4], p[4]) == pytest.approx(lp, rel=1e-11)
        fdp = nd.Gradient(lambda t: dense.profile(t)[0], step=1e-5)(p[2:])
        np.testing.assert_allclose(model.profile_gradient(p[2:4], p[4]), fdp,
                                   rtol=1e-6, atol=1e-6 * np.abs(fdp).max())


def test_hlmm_class_fit_matches_brute_force_and_hessian(snp):
    scan, dense, codes = snp
    res = scan.fit_snp(codes)
    assert res["ok"], res["reason"]
    assert not res["boundary"]
    x_bf, l_bf = dense.brute_force([[0, 0, 0.05], [0.3, -0.3, 0.7]])
    assert res["likelihood"] >= l_bf - 1e-6
    assert abs(res["likelihood"] - l_bf) < 1e-6
    np.testing.assert_allclose([res["var"], res["h2"]], x_bf[1:], atol=1e-4)
    _, a = dense.profile(np.r_[x_bf])
    assert abs(res["add"] - a[1]) < 1e-4
    # SEs: inverse negative Hessian of the dense log-likelihood at our MLE
    theta = _full_theta(scan.class_model(codes), res)
    _, alpha = dense.profile(theta)
    p = np.r_[alpha, theta]
    H = nd.Hessian(dense.loglik, step=1e-4)(p)
    se = np.sqrt(np.diag(np.linalg.inv(-H)))
    np.testing.assert_allclose([res["add_se"], res["var_se"], res["h2_se"]],
                               se[[1, 3, 4]], rtol=1e-3)
    assert res["n"] == (codes >= 0).sum()


def test_gram_products_rows_equals_gram_rows_and_gather_sums():
    from hlmm._core import _classfit, _gram

    rng = np.random.default_rng(12)
    G = rng.standard_normal((3000, 37))
    y = rng.standard_normal(3000)
    for k in (0, 5, 1024, 2500):
        rows = np.sort(rng.choice(3000, k, replace=False)).astype(np.intp)
        M, S = np.empty((37, 37)), np.empty((2, 37))
        _gram.gram_products_rows(G, rows, np.column_stack([np.ones(3000), y]), M, S)
        u, s = S
        M0, u0, s0 = np.empty((37, 37)), np.empty(37), np.empty(37)
        _gram.gram_rows(G, rows, M0)
        _classfit.gather_sums(G, rows, y, u0, s0)
        np.testing.assert_allclose(M, M0, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.c_[u, s], np.c_[u0, s0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(M, G[rows].T @ G[rows], rtol=1e-10, atol=1e-10)


def test_hlmm_class_stats_match_bincount():
    rng = np.random.default_rng(13)
    y, G = rng.standard_normal(700), rng.standard_normal((700, 4))
    scan = HLMMClassScan(y, G, 0.1)
    codes = rng.integers(-1, 3, 700).astype(np.int8)
    ref = np.array([[np.sum(codes == k), y[codes == k].sum(), (y[codes == k] ** 2).sum()]
                    for k in range(3)]).reshape(-1)
    np.testing.assert_allclose(scan.class_stats(codes), ref, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(scan.class_stats(codes.astype(np.int64)), ref, rtol=1e-13,
                               atol=1e-12)
    for bad in (3, -2, 258):
        c = codes.astype(np.int64)
        c[5] = bad
        with pytest.raises(ValueError, match="0, 1, 2 or -1"):
            scan.class_stats(c)


def _differenced_hessian(model, p, d=1e-6):
    """∂²f over (α, β, h2) by central differences of the analytic gradient (f = −2L − c)."""
    H = np.empty((5, 5))
    for j in range(5):
        cols = []
        for sign in (1.0, -1.0):
            q = p.copy()
            q[j] += sign * d * max(1.0, abs(p[j]))
            cols.append(-2.0 * model.gradient(q[:2], q[2:4], q[4]))
        H[:, j] = (cols[0] - cols[1]) / (2.0 * d * max(1.0, abs(p[j])))
    return H


def test_hlmm_class_hessian_matches_differenced_gradient(snp):
    """ClassStatsHLMM.hessian, the exact Hessian from the class quantities, against
    central differences of the analytic gradient: inside, at the bound and at h2 = 0."""
    scan, _, codes = snp
    model = scan.class_model(codes)
    rng = np.random.default_rng(8)
    for h2 in (rng.uniform(0.05, 0.9), rng.uniform(0.05, 0.9), H2_MIN, 0.0):
        p = np.r_[rng.normal(scale=0.3, size=4), h2]
        assert model.evaluate(p[2:4], h2, p[:2]) is not None
        H = model.hessian()
        fd = _differenced_hessian(model, p)
        np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())
        np.testing.assert_array_equal(H, H.T)


def test_hlmm_class_hessian_matches_dense_hessian(snp):
    """The same Hessian against the dense O(n³) log-likelihood's (numdifftools)."""
    scan, dense, codes = snp
    model = scan.class_model(codes)
    p = np.array([0.1, -0.2, 0.05, 0.3, 0.35])
    model.evaluate(p[2:4], p[4], p[:2])
    Hd = nd.Hessian(dense.loglik, step=1e-4)(p)
    np.testing.assert_allclose(-0.5 * model.hessian(), Hd, rtol=1e-6,
                               atol=1e-6 * np.abs(Hd).max())


def test_hlmm_exact_hessian_newton_equals_the_differenced_path(snp):
    """The Newton with the exact Hessian and its SEs give the fit of the
    finite-difference path (Hessian and information differenced from the gradient)."""
    scan, _, codes = snp
    from hlmm.models.hlmm_classes import ClassStatsHLMM

    class Differenced(ClassStatsHLMM):
        hessian = None

    new = scan.fit_snp(codes)
    model = scan.class_model(codes)
    model.__class__ = Differenced
    res0 = {k: v for k, v in new.items()}
    res0.update(ok=False, likelihood=np.nan)
    beta0 = HLMClassScan(scan.y).fit_block(
        np.atleast_2d(scan.class_stats(codes)))
    old = scan._fit_model(model, np.r_[beta0["beta0"][0], beta0["var"][0]], res0, None,
                          1e-10, 50)
    assert new["ok"] and old["ok"]
    assert new["likelihood"] == pytest.approx(old["likelihood"], abs=1e-9)
    for k in ("add", "var", "h2"):
        assert new[k] == pytest.approx(old[k], rel=1e-6, abs=1e-9)
    for k in ("add_se", "var_se", "h2_se"):
        assert new[k] == pytest.approx(old[k], rel=1e-5)


def _full_theta(model, res):
    # β0 is not reported; recover it as the profile maximiser over β0 at (β1, h2)
    r = optimize.minimize_scalar(
        lambda b0: -model.profile_loglik([b0, res["var"]], res["h2"]),
        method="bounded", bounds=(-5.0, 5.0), options=dict(xatol=1e-10))
    return np.r_[r.x, res["var"], res["h2"]]


def test_hlmm_missing_calls_equal_dropping_the_individuals():
    y, G, codes = _hlmm_data(5, miss=0.15)
    keep = codes >= 0
    full = HLMMClassScan(y, G, 0.2).fit_snp(codes)
    sub = HLMMClassScan(y[keep], G[keep], 0.2).fit_snp(codes[keep])
    assert full["ok"] and sub["ok"]
    for k in ("n", "freq", "likelihood", "add", "add_se", "var", "var_se", "h2", "h2_se"):
        assert full[k] == pytest.approx(sub[k], rel=1e-7, abs=1e-9), k


def test_hlmm_boundary_reports_fixed_effects_with_reduced_information():
    y, G, codes = _hlmm_data(9, h2=0.0, n=200)
    y -= G @ linalg.lstsq(G, y)[0]        # no genetic signal at all: h2 on the bound
    res = HLMMClassScan(y, G, 0.3).fit_snp(codes)
    assert res["ok"] and res["boundary"], res
    assert res["h2"] == H2_MIN and np.isnan(res["h2_se"])
    dense = Dense(y, G, codes)
    x_bf, l_bf = dense.brute_force([[0, 0, 0.05], [0, 0, 0.4]])
    assert abs(res["likelihood"] - l_bf) < 1e-6
    assert abs(res["var"] - x_bf[1]) < 1e-4
    theta = _full_theta(HLMMClassScan(y, G, 0.3).class_model(codes), res)
    _, a = dense.profile(theta)
    H = nd.Hessian(lambda q: dense.loglik(np.r_[q, H2_MIN]), step=1e-4)(np.r_[a, theta[:2]])
    se = np.sqrt(np.diag(np.linalg.inv(-H)))
    np.testing.assert_allclose([res["add_se"], res["var_se"]], se[[1, 3]], rtol=1e-3)


def test_hlmm_monomorphic_and_failures_are_nan():
    y, G, codes = _hlmm_data(6)
    scan = HLMMClassScan(y, G, 0.2)
    res = scan.fit_snp(np.where(codes >= 0, 1, -1).astype(np.int8))
    assert not res["ok"] and res["reason"] == "monomorphic"
    for k in ("likelihood", "add", "add_se", "var", "var_se", "h2"):
        assert np.isnan(res[k]), k
    with pytest.raises(ValueError):
        scan.fit_snp(codes[:-1])


def test_hlmm_class_scan_thread_safe():
    y, G, codes = _hlmm_data(10)
    scan = HLMMClassScan(y, G, 0.2)
    rng = np.random.default_rng(1)
    snps = [np.where(codes >= 0, rng.binomial(2, 0.4, len(codes)), -1).astype(np.int8)
            for _ in range(4)]
    serial = [scan.fit_snp(c) for c in snps]
    with ThreadPoolExecutor(4) as ex:
        threaded = list(ex.map(scan.fit_snp, snps))
    for a, b in zip(serial, threaded):
        assert a == b or all(a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])) for k in a)


@pytest.mark.skipif(not hasattr(hlmm, "HLMM"), reason="hlmm.HLMM not available")
def test_hlmm_class_scan_matches_general_hlmm():
    y, G, codes = _hlmm_data(13, n=300, miss=0.05)
    res = HLMMClassScan(y, G, 0.2).fit_snp(codes)
    keep = codes >= 0
    g = codes[keep].astype(float)
    X = np.column_stack([np.ones(keep.sum()), g - g.mean()])
    ref = hlmm.HLMM(y[keep], X, X, G[keep]).fit(h2_init=0.2, h2_min=H2_MIN)
    assert res["ok"] and ref.converged
    assert abs(res["likelihood"] - ref.loglik) < 1e-6
    np.testing.assert_allclose([res["add"], res["var"], res["h2"]],
                               [ref.alpha[1], ref.beta[1], ref.h2], atol=1e-5)
    np.testing.assert_allclose([res["add_se"], res["var_se"], res["h2_se"]],
                               ref.bse[[1, 3, 4]], rtol=1e-4)


def test_gil_free_linear_algebra_equals_scipy(rng):
    """The HLMM Newton's Cholesky inverse and l×l product run without the GIL (so that
    phenotypes' fits overlap in threads) and equal scipy's wrappers of the same calls."""
    from scipy.linalg import blas, lapack

    from hlmm._core import _classfit

    X = rng.normal(size=(70, 40))
    A = X.T @ X + np.eye(40)
    c, _ = lapack.dpotrf(A.T, lower=0, clean=0, overwrite_a=0)
    ref, _ = lapack.dpotri(c, lower=0)
    ref = ref.T.copy()
    _classfit.mirror_lower(ref)
    Ainv = A.copy()
    logdet = _classfit.chol_inverse_inplace(Ainv)
    np.testing.assert_array_equal(Ainv, ref)
    assert logdet == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    assert _classfit.chol_inverse_inplace(-A.copy()) is None
    K = X.T @ X
    Y = np.empty((40, 40), order="F")
    _classfit.sym_product(Ainv, K, Y)
    np.testing.assert_array_equal(Y, blas.dgemm(1.0, Ainv.T, K.T))


def test_gil_free_blas_wrappers_equal_scipy(rng):
    from scipy.linalg import blas

    from hlmm._core import _classfit

    X = rng.normal(size=(50, 30))
    A = X.T @ X
    x, y = rng.normal(size=30), rng.normal(size=30)
    P = np.asfortranarray(rng.normal(size=(30, 3)))
    assert _classfit.nogil_ddot(x, y) == blas.ddot(x, y)
    np.testing.assert_array_equal(_classfit.nogil_dsymv(A, x), blas.dsymv(1.0, A.T, x))
    np.testing.assert_array_equal(_classfit.nogil_dsymm(A, P), blas.dsymm(1.0, A.T, P))
    y2 = y.copy()
    _classfit.nogil_daxpy(x, y2, 0.7)
    np.testing.assert_array_equal(y2, blas.daxpy(x, y.copy(), a=0.7))


def test_combine_two_against_numpy():
    """The HLMM's two weighted Gram combinations of one pass over the M_k."""
    from hlmm._core import _gram

    rng = np.random.default_rng(11)
    for C in (1, 2, 3, 4):
        Ms = [np.ascontiguousarray(rng.normal(size=(37, 37))) for _ in range(C)]
        a, b = rng.normal(size=C), rng.normal(size=C)
        A, K = np.full((37, 37), np.nan), np.full((37, 37), np.nan)
        _gram.combine_two(Ms, a, b, A, K)
        np.testing.assert_allclose(A, sum(x * M for x, M in zip(a, Ms)), rtol=1e-13,
                                   atol=1e-13)
        np.testing.assert_allclose(K, sum(x * M for x, M in zip(b, Ms)), rtol=1e-13,
                                   atol=1e-13)
    with pytest.raises(ValueError):
        _gram.combine_two([], np.ones(0), np.ones(0), A, K)


def test_traces_and_products_against_numpy():
    """tr(B·M_k) and M_k z of one pass over the M_k, against numpy."""
    from hlmm._core import _gram

    rng = np.random.default_rng(12)
    l = 41
    B = rng.normal(size=(l, l))
    B = np.ascontiguousarray(B + B.T)
    z = rng.normal(size=l)
    for C in (1, 3, 4):
        Ms = []
        for _ in range(C):
            M = rng.normal(size=(l, l))
            Ms.append(np.ascontiguousarray(M + M.T))
        tr, Mz = np.full(C, np.nan), np.full((C, l), np.nan)
        _gram.traces_and_products(Ms, B, z, tr, Mz)
        np.testing.assert_allclose(tr, [np.trace(B @ M) for M in Ms], rtol=1e-12)
        np.testing.assert_allclose(Mz, [M @ z for M in Ms], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError):
        _gram.traces_and_products(Ms, B, z[:-1], tr, Mz)
