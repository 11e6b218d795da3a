"""HLMM against dense formulas with Σ formed explicitly (small n)."""
import numdifftools as nd
import numpy as np
import pytest
from scipy import optimize

import hlmm
from hlmm import HLMM
from hlmm._core import _mixed

from dense_hlmm import (dense_alpha, dense_grad, dense_hess, dense_loglik, make_data)



SHAPES = [(80, 2, 2, 5), (60, 1, 1, 100), (70, 3, 3, 1), (100, 2, 1, 20), (50, 2, 2, 120)]


def random_point(rng, p, q):
    return rng.standard_normal(p), 0.3 * rng.standard_normal(q), rng.uniform(0.05, 1.5)


# --- kernels ------------------------------------------------------------------------------
@pytest.mark.parametrize("n,l", [(3000, 7), (50, 130), (9, 1)])
def test_kernels_match_numpy(n, l, rng):
    G = rng.standard_normal((n, l))
    a = rng.standard_normal(n)
    out = np.empty((l, l))
    _mixed.signed_gram(G, a, out)
    np.testing.assert_allclose(out, (G.T * a) @ G, rtol=1e-11, atol=1e-11)
    A = np.eye(l) + G.T @ G / n
    Linv = np.ascontiguousarray(np.linalg.inv(np.linalg.cholesky(A)))
    z = rng.standard_normal(l)
    c, az = np.empty(n), np.empty(n)
    _mixed.row_terms(G, Linv, z, c, az)
    np.testing.assert_allclose(c, np.einsum("ij,ij->i", G @ np.linalg.inv(A), G), rtol=1e-11)
    np.testing.assert_allclose(az, G @ z, rtol=1e-11, atol=1e-12)


# --- likelihood, α̂, gradient, Hessian at random points ----------------------------------
@pytest.mark.parametrize("method", ["general", "auto"])
@pytest.mark.parametrize("shape", SHAPES)
def test_loglik_and_alpha_match_dense(shape, method, rng):
    n, p, q, l = shape
    y, X, V, G = make_data(n, p, q, l)
    m = HLMM(y, X, V, G, method=method)
    for _ in range(3):
        a, b, h2 = random_point(rng, p, q)
        assert m.loglik(a, b, h2) == pytest.approx(dense_loglik(y, X, V, G, a, b, h2), rel=1e-12)
        np.testing.assert_allclose(m.alpha_mle(b, h2), dense_alpha(y, X, V, G, b, h2), rtol=1e-9)
        ah = dense_alpha(y, X, V, G, b, h2)
        assert m.profile_loglik(b, h2) == pytest.approx(
            dense_loglik(y, X, V, G, ah, b, h2), rel=1e-12)
    assert m.loglik(a, b, 0.0) == pytest.approx(dense_loglik(y, X, V, G, a, b, 0.0), rel=1e-12)


@pytest.mark.parametrize("method", ["general", "auto"])
@pytest.mark.parametrize("shape", SHAPES)
def test_gradient_matches_numdifftools(shape, method, rng):
    n, p, q, l = shape
    y, X, V, G = make_data(n, p, q, l, seed=1)
    m = HLMM(y, X, V, G, method=method)
    a, b, h2 = random_point(rng, p, q)
    th = np.concatenate([a, b, [h2]])
    f = lambda t: dense_loglik(y, X, V, G, t[:p], t[p:p + q], t[-1])
    g = m.gradient(a, b, h2)
    np.testing.assert_allclose(g, nd.Gradient(f, step=1e-5)(th), rtol=1e-7, atol=1e-7 * np.abs(g).max())
    np.testing.assert_allclose(g, dense_grad(y, X, V, G, a, b, h2), rtol=1e-9, atol=1e-9)
    # profile gradient over (β, h2) at α̂
    fp = lambda t: m.profile_loglik(t[:q], t[-1])
    gp = m.profile_gradient(b, h2)
    np.testing.assert_allclose(gp, nd.Gradient(fp, step=1e-4)(th[p:]), rtol=1e-7, atol=1e-7 * np.abs(gp).max())


@pytest.mark.parametrize("method", ["general", "auto"])
@pytest.mark.parametrize("shape", SHAPES)
def test_hessian_matches_gradient_of_dense_gradient(shape, method, rng):
    n, p, q, l = shape
    y, X, V, G = make_data(n, p, q, l, seed=2)
    m = HLMM(y, X, V, G, method=method)
    a, b, h2 = random_point(rng, p, q)
    th = np.concatenate([a, b, [h2]])
    H_num = nd.Jacobian(lambda t: dense_grad(y, X, V, G, t[:p], t[p:p + q], t[-1]), step=1e-5)(th)
    H = m.hessian(a, b, h2)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(H, H_num, rtol=1e-6, atol=1e-6 * np.abs(H).max())


# --- the fit -----------------------------------------------------------------------------
def brute_force_mle(y, X, V, G, starts):
    """Minimise the dense −L over (α, β, h2 ≥ 0) with scipy from several starts."""
    p, q = X.shape[1], V.shape[1]
    f = lambda t: -dense_loglik(y, X, V, G, t[:p], t[p:p + q], t[-1])
    jac = lambda t: -dense_grad(y, X, V, G, t[:p], t[p:p + q], t[-1])
    bounds = [(None, None)] * (p + q) + [(0.0, None)]
    best = None
    for t0 in starts:
        r = optimize.minimize(f, t0, jac=jac, method="L-BFGS-B", bounds=bounds,
                              options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 5000})
        if best is None or r.fun < best.fun:
            best = r
    # polish the interior optimum with trust-region Newton steps on the dense Hessian
    if best.x[-1] > 1e-6:
        r = optimize.minimize(f, best.x, jac=jac, method="trust-exact",
                              hess=lambda t: -dense_hess(y, X, V, G, t, p, q),
                              options={"gtol": 1e-10})
        if r.fun <= best.fun:
            best = r
    return best


@pytest.mark.parametrize("shape,method", [
    ((150, 2, 2, 10), "general"), ((120, 2, 1, 8), "auto"), ((120, 2, 1, 8), "general"),
    ((80, 1, 1, 150), "auto"), ((100, 2, 3, 1), "general")])
def test_mle_matches_brute_force(shape, method, rng):
    n, p, q, l = shape
    y, X, V, G = make_data(n, p, q, l, h2=0.6, seed=3)
    res = HLMM(y, X, V, G, method=method).fit()
    assert res.converged and not res.boundary and res.h2 > 0.01
    starts = [np.concatenate([rng.standard_normal(p) * 0.1, rng.standard_normal(q) * 0.1, [h]])
              for h in (0.05, 0.5, 1.0)]
    best = brute_force_mle(y, X, V, G, starts)
    assert res.loglik >= -best.fun - 1e-9
    assert res.loglik == pytest.approx(-best.fun, abs=1e-6)
    np.testing.assert_allclose(res.params, best.x, atol=1e-4)
    assert res.loglik == pytest.approx(dense_loglik(y, X, V, G, res.alpha, res.beta, res.h2),
                                       rel=1e-12)


@pytest.mark.parametrize("shape,method", [
    ((150, 2, 2, 10), "general"), ((120, 2, 1, 8), "auto"), ((80, 1, 1, 150), "general")])
def test_standard_errors_match_numdifftools_hessian(shape, method):
    n, p, q, l = shape
    y, X, V, G = make_data(n, p, q, l, h2=0.6, seed=3)
    res = HLMM(y, X, V, G, method=method).fit()
    f = lambda t: dense_loglik(y, X, V, G, t[:p], t[p:p + q], t[-1])
    cov = np.linalg.inv(-nd.Hessian(f, step=1e-4)(res.params))
    np.testing.assert_allclose(res.bse, np.sqrt(np.diag(cov)), rtol=1e-3)
    np.testing.assert_allclose(res.cov_params(), cov, rtol=1e-3, atol=1e-3 * np.abs(cov).max())
    assert res.cov_params().shape == (p + q + 1, p + q + 1)


@pytest.mark.parametrize("l", [15, 55, 200])
def test_null_fast_path_equals_general(l, rng):
    n, p = 120, 2
    for const in (1.0, 2.5):
        y, X, V, G = make_data(n, p, 1, l, h2=0.5, seed=4, const_v=const)
        fast, slow = HLMM(y, X, V, G), HLMM(y, X, V, G, method="general")
        assert fast.method == "spectral" and slow.method == "general"
        for _ in range(3):
            a, b, h2 = random_point(rng, p, 1)
            assert fast.loglik(a, b, h2) == pytest.approx(slow.loglik(a, b, h2), rel=1e-12)
            np.testing.assert_allclose(fast.gradient(a, b, h2), slow.gradient(a, b, h2),
                                       rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(fast.hessian(a, b, h2), slow.hessian(a, b, h2),
                                       rtol=1e-9, atol=1e-8)
        rf, rs = fast.fit(), slow.fit()
        assert rf.converged and rs.converged
        assert rf.loglik == pytest.approx(rs.loglik, abs=1e-9)
        np.testing.assert_allclose(rf.params, rs.params, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(rf.bse, rs.bse, rtol=1e-6)


@pytest.mark.parametrize("method", ["general", "auto"])
def test_boundary_h2_zero(method):
    y, X, V, G = hlmm.simulate(200, 20, [1.0, 0.5], [0.1], 0.0, seed=6)
    X = np.column_stack([np.ones(200), X[:, 1]])
    V = np.ones((200, 1))
    res = HLMM(y, X, V, G, method=method).fit(h2_init=0.5)
    assert res.converged and res.boundary and res.h2 == 0.0
    assert np.isnan(res.h2_se)
    assert np.all(np.isfinite(res.alpha_se)) and np.all(np.isfinite(res.beta_se))
    # the dense likelihood decreases into h2 > 0 from the reported point ...
    assert dense_grad(y, X, V, G, res.alpha, res.beta, 0.0)[-1] < 0
    # ... and the reported (α, β) are the MLE with h2 = 0 (an HLM), SEs as its inverse information
    p, q = 2, 1
    f = lambda t: dense_loglik(y, X, V, G, t[:p], t[p:], 0.0)
    t = np.concatenate([res.alpha, res.beta])
    np.testing.assert_allclose(nd.Gradient(f, step=1e-5)(t), 0, atol=1e-4)
    cov = np.linalg.inv(-nd.Hessian(f, step=1e-4)(t))
    np.testing.assert_allclose(res.bse[:-1], np.sqrt(np.diag(cov)), rtol=1e-3)


@pytest.mark.parametrize("h2_init", [0.01, 0.5, 1.0])
@pytest.mark.parametrize("method", ["general", "auto"])
def test_converges_from_any_h2_init(h2_init, method):
    y, X, V, G = make_data(150, 2, 1, 10, h2=0.6, seed=3)
    if method == "general":
        V = np.column_stack([V, np.random.default_rng(9).standard_normal(150)])
    m = HLMM(y, X, V, G, method=method)
    ref = m.fit(h2_init=0.05)
    res = m.fit(h2_init=h2_init)
    assert res.converged and ref.converged
    assert res.loglik == pytest.approx(ref.loglik, abs=1e-9)
    np.testing.assert_allclose(res.params, ref.params, atol=1e-6)
    assert res.n_iter < 30


def test_l_equals_one_and_l_greater_than_n():
    for l in (1, 300):
        y, X, V, G = make_data(100, 2, 2, l, h2=0.5, seed=6)
        res = HLMM(y, X, V, G[:, 0] if l == 1 else G).fit()
        assert res.converged
        assert np.isfinite(res.loglik)
        assert res.loglik == pytest.approx(
            dense_loglik(y, X, V, G, res.alpha, res.beta, res.h2), rel=1e-12)


def test_bad_input_raises_value_error():
    y, X, V, G = make_data(60, 2, 2, 5)
    with pytest.raises(ValueError, match="G"):
        HLMM(y, X, V, G[:-1])
    Gn = G.copy()
    Gn[3, 1] = np.nan
    with pytest.raises(ValueError, match="G"):
        HLMM(y, X, V, Gn)
    with pytest.raises(ValueError, match="y"):
        HLMM(np.append(y[:-1], np.inf), X, V, G)
    with pytest.raises(ValueError, match="X"):
        HLMM(y, X[:-1], V, G)
    with pytest.raises(ValueError, match="V"):
        HLMM(y, X, np.column_stack([V, V[:, 1]]), G)
    with pytest.raises(ValueError, match="spectral"):
        HLMM(y, X, V, G, method="spectral")
    m = HLMM(y, X, V, G)
    with pytest.raises(ValueError, match="h2_init"):
        m.fit(h2_init=-0.1)
    with pytest.raises(ValueError, match="beta"):
        m.loglik(np.zeros(2), np.zeros(3), 0.1)
    with pytest.raises(ValueError, match="h2"):
        m.loglik(np.zeros(2), np.zeros(2), -1.0)
    with pytest.raises(ValueError, match="observations"):
        HLMM(y[:4], X[:4], V[:4], G[:4])


def test_fit_results_and_evaluation_counts():
    y, X, V, G = make_data(150, 2, 2, 10, h2=0.6, seed=3)
    res = HLMM(y, X, V, G).fit()
    assert isinstance(res, hlmm.FitResults)
    assert res.params.shape == (5,) and res.param_names[-1] == "h2"
    assert res.n_evals["likelihood"] >= res.n_iter and res.n_evals["gradient"] >= 1
    assert "h2" in res.summary()


def test_simulate_reproducible_and_recovers_h2():
    a = hlmm.simulate(300, 40, [1.0, -0.5], [0.2, 0.1], 0.5, seed=11)
    b = hlmm.simulate(300, 40, [1.0, -0.5], [0.2, 0.1], 0.5, rng=np.random.default_rng(11))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    y, X, V, G = a
    assert y.shape == (300,) and X.shape == (300, 2) and V.shape == (300, 2) and G.shape == (300, 40)
    np.testing.assert_allclose(G.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(G.var(axis=0), 1 / 40, rtol=1e-12)
    # large sample: estimates near the truth
    y, X, V, G = hlmm.simulate(4000, 30, [1.0, -0.5], [0.2, 0.1], 1.0, seed=12)
    res = HLMM(y, X, V, G).fit()
    assert abs(res.h2 - 1.0) < 4 * res.h2_se
    np.testing.assert_allclose(res.beta, [0.2, 0.1], atol=4 * res.beta_se.max())
