"""hlmm.HLM: likelihood, gradients, WLS, the Newton fit, standard errors, scale safety
and input checks, each against formulas written independently here."""
import re
import warnings

import numdifftools as nd
import numpy as np
import pytest
from scipy import optimize, stats

import hlmm
from hlmm import HLM

LOG2PI = np.log(2 * np.pi)


def simulate(rng, n, p, q, beta_scale=0.4):
    """Intercept first in X and V, the other columns Gaussian; truly heteroskedastic y."""
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    V = np.column_stack([np.ones(n), rng.standard_normal((n, q - 1))])
    alpha = rng.normal(0, 1, p)
    beta = rng.normal(0, beta_scale / np.sqrt(q), q)
    y = X @ alpha + np.exp(0.5 * V @ beta) * rng.standard_normal(n)
    return y, X, V


def dense_loglik(y, X, V, alpha, beta):
    """log N(y; Xα, diag(exp(Vβ))) through scipy's multivariate normal with a dense Σ."""
    return stats.multivariate_normal(mean=X @ alpha, cov=np.diag(np.exp(V @ beta))).logpdf(y)


def dense_wls(y, X, V, beta):
    """argmin_α ‖D^{-1/2}(y − Xα)‖² by least squares on the whitened problem."""
    s = np.exp(-0.5 * V @ beta)
    return np.linalg.lstsq(X * s[:, None], y * s, rcond=None)[0]


def negloglik_and_grad(theta, y, X, V):
    """−L over θ = (α, β) and its gradient, written out element by element."""
    p = X.shape[1]
    a, b = theta[:p], theta[p:]
    eta = V @ b
    r = y - X @ a
    e = r * r * np.exp(-eta)
    f = 0.5 * np.sum(LOG2PI + eta + e)
    ga = -X.T @ (r * np.exp(-eta))
    gb = 0.5 * V.T @ (1.0 - e)
    return f, np.concatenate([ga, gb])


# --- likelihood, WLS --------------------------------------------------------------------
@pytest.mark.parametrize("p,q", [(1, 1), (2, 3), (4, 2)])
def test_loglik_matches_dense_normal(rng, p, q):
    y, X, V = simulate(rng, 40, p, q)
    m = HLM(y, X, V)
    for _ in range(3):
        a, b = rng.normal(0, 1, p), rng.normal(0, 0.5, q)
        assert m.loglik(a, b) == pytest.approx(dense_loglik(y, X, V, a, b), rel=1e-12)


@pytest.mark.parametrize("p,q", [(1, 1), (3, 2), (5, 5)])
def test_alpha_mle_matches_whitened_least_squares(rng, p, q):
    y, X, V = simulate(rng, 60, p, q)
    m = HLM(y, X, V)
    b = rng.normal(0, 0.7, q)
    np.testing.assert_allclose(m.alpha_mle(b), dense_wls(y, X, V, b), rtol=1e-10, atol=1e-12)


def test_profile_loglik_is_loglik_at_alpha_mle_and_maximal(rng):
    y, X, V = simulate(rng, 50, 3, 2)
    m = HLM(y, X, V)
    b = rng.normal(0, 0.5, 2)
    a_hat = dense_wls(y, X, V, b)
    assert m.profile_loglik(b) == pytest.approx(dense_loglik(y, X, V, a_hat, b), rel=1e-12)
    for _ in range(5):
        assert m.profile_loglik(b) > dense_loglik(y, X, V, a_hat + rng.normal(0, 1e-3, 3), b)


def test_one_dimensional_designs_are_one_column(rng):
    y, X, V = simulate(rng, 30, 2, 2)
    m1 = HLM(y, X[:, 1], V[:, 1])
    m2 = HLM(y, X[:, 1:2], V[:, 1:2])
    assert (m1.p, m1.q) == (1, 1)
    assert m1.loglik([0.3], [0.2]) == m2.loglik([0.3], [0.2])


def test_loglik_sums_accurately_for_large_n():
    # f is compared across line-search trials that differ by ~1e-10 on a value ~n: the
    # kernel's sums must be accurate to a few ulps, not to ~√n ulps.
    import math
    rng = np.random.default_rng(3)
    n = 1_000_000
    V = np.column_stack([np.ones(n), rng.standard_normal(n)])
    X = np.ones((n, 1))
    y = 0.3 + rng.standard_normal(n) * np.exp(0.5 * (0.7 + 0.1 * V[:, 1]))
    a, b = np.array([0.3]), np.array([0.7, 0.1])
    eta = V @ b
    ref = -0.5 * (math.fsum(eta) + math.fsum((y - 0.3) ** 2 * np.exp(-eta)) + n * LOG2PI)
    assert HLM(y, X, V).loglik(a, b) == pytest.approx(ref, rel=3e-16)


# --- gradients --------------------------------------------------------------------------
@pytest.mark.parametrize("p", [1, 2, 10])
@pytest.mark.parametrize("q", [1, 2, 10])
def test_gradient_matches_numdifftools(rng, p, q):
    y, X, V = simulate(rng, 80, p, q)
    m = HLM(y, X, V)
    f = lambda th: m.loglik(th[:p], th[p:])  # noqa: E731
    for _ in range(2):
        th = np.concatenate([rng.normal(0, 1, p), rng.normal(0, 0.3, q)])
        num = nd.Gradient(f, step=1e-5, method="central", order=4)(th)
        ana = m.gradient(th[:p], th[p:])
        np.testing.assert_allclose(ana, num, rtol=1e-6, atol=1e-6 * np.abs(num).max())


@pytest.mark.parametrize("p,q", [(1, 1), (2, 2), (10, 10), (1, 10), (10, 1)])
def test_profile_gradient_matches_numdifftools(rng, p, q):
    y, X, V = simulate(rng, 80, p, q)
    m = HLM(y, X, V)
    b = rng.normal(0, 0.3, q)
    num = nd.Gradient(m.profile_loglik, step=1e-5, method="central", order=4)(b)
    np.testing.assert_allclose(np.atleast_1d(m.profile_gradient(b)), np.atleast_1d(num),
                               rtol=1e-6, atol=1e-6 * np.abs(num).max())


def test_gradient_independent_formula(rng):
    # A second, non-numerical reference: the closed form written out in this file.
    y, X, V = simulate(rng, 50, 3, 4)
    m = HLM(y, X, V)
    th = np.concatenate([rng.normal(0, 1, 3), rng.normal(0, 0.3, 4)])
    _, g = negloglik_and_grad(th, y, X, V)
    np.testing.assert_allclose(m.gradient(th[:3], th[3:]), -g, rtol=1e-10, atol=1e-10)


# --- the fit ------------------------------------------------------------------------------
def brute_force_mle(y, X, V, starts):
    best = None
    for th0 in starts:
        r = optimize.minimize(negloglik_and_grad, th0, args=(y, X, V), jac=True,
                              method="BFGS", options={"gtol": 1e-9, "maxiter": 10_000})
        if best is None or r.fun < best.fun:
            best = r
    return best


@pytest.mark.parametrize("p,q,seed", [(1, 1, 0), (2, 2, 1), (3, 4, 2), (4, 2, 3)])
def test_fit_matches_brute_force_minimisation(p, q, seed):
    rng = np.random.default_rng(seed)
    y, X, V = simulate(rng, 300, p, q, beta_scale=0.8)
    res = HLM(y, X, V).fit()
    assert res.converged
    starts = [np.zeros(p + q)] + [rng.normal(0, 0.5, p + q) for _ in range(3)]
    bf = brute_force_mle(y, X, V, starts)
    assert res.loglik == pytest.approx(-bf.fun, abs=1e-6)
    assert res.loglik >= -bf.fun - 1e-9  # never worse than the brute-force optimum
    np.testing.assert_allclose(res.alpha, bf.x[:p], atol=1e-4)
    np.testing.assert_allclose(res.beta, bf.x[p:], atol=1e-4)


@pytest.mark.parametrize("n,p,q", [(500, 1, 1), (5000, 3, 3), (20000, 10, 10), (200_000, 2, 2),
                                   (1_000_000, 1, 1)])
def test_fit_profile_gradient_below_tolerance(rng, n, p, q):
    y, X, V = simulate(rng, n, p, q)
    m = HLM(y, X, V)
    res = m.fit()
    assert res.converged and res.message == "converged"
    assert 1 <= res.n_iter <= 20
    assert np.max(np.abs(m.profile_gradient(res.beta))) < 1e-6 * n
    assert np.max(np.abs(m.gradient(res.alpha, res.beta))) < 1e-6 * n
    np.testing.assert_allclose(res.alpha, m.alpha_mle(res.beta), rtol=1e-10, atol=1e-12)
    assert res.loglik == pytest.approx(m.loglik(res.alpha, res.beta), rel=1e-13)


def test_fit_from_a_far_start_reaches_the_same_mle(rng):
    y, X, V = simulate(rng, 1000, 2, 3)
    m = HLM(y, X, V)
    ref = m.fit()
    for b0 in ([25.0, 0.0, 0.0], [-25.0, 3.0, -3.0], [0.0, 8.0, 0.0]):
        res = m.fit(beta_init=b0)
        assert res.converged
        np.testing.assert_allclose(res.beta, ref.beta, atol=1e-7)
        assert res.loglik == pytest.approx(ref.loglik, abs=1e-7)


def test_joint_cross_kernel_matches_dense_formulas(rng):
    """_hlm.joint_cross: f, ∂f/∂(α, β) at any (α, β) (as negloglik_and_grad) and the
    Hessian's columns of the last mean and variance columns (dense formulas)."""
    from hlmm._core import _hlm

    y, X, V = simulate(rng, 2500, 4, 3)
    p, q = 4, 3
    for p0, q0, same in ((3, 2, False), (2, 3, False), (4, 1, False), (3, 3, True)):
        if same:                  # X = V: one product per block
            q, V = p, X
        a, b = rng.normal(0, 1, p), rng.normal(0, 0.3, q)
        ga, gb = np.empty(p), np.empty(q)
        Hx, Hv = np.empty((p + q, p - p0)), np.empty((p + q, q - q0))
        f, s = _hlm.joint_cross(y, X, V, a, b, p0, q0, ga, gb, Hx, Hv)
        nll, g = negloglik_and_grad(np.r_[a, b], y, X, V)
        assert f == pytest.approx(2 * nll - len(y) * LOG2PI, rel=1e-12)
        np.testing.assert_allclose(np.r_[ga, gb], 2 * g, rtol=1e-9, atol=1e-9)
        assert s >= abs(f) * (1 - 1e-12)
        w = np.exp(-V @ b)
        r = y - X @ a
        H = np.block([[2 * X.T @ (X * w[:, None]), 2 * X.T @ (V * (w * r)[:, None])],
                      [2 * V.T @ (X * (w * r)[:, None]), V.T @ (V * (w * r * r)[:, None])]])
        np.testing.assert_allclose(Hx, H[:, p0:p], rtol=1e-10)
        np.testing.assert_allclose(Hv, H[:, p + q0:], rtol=1e-10)


def _nested_case(rng, effect, n=4000, c=5, missing=0.0):
    C = rng.standard_normal((n, c))
    x = rng.binomial(2, 0.3, n) - 0.6
    X0 = np.column_stack([np.ones(n), C])
    y = (X0 @ rng.normal(0, 0.5, c + 1) + effect * x
         + np.exp(0.5 * (C @ rng.normal(0, 0.2, c) + effect * x)) * rng.standard_normal(n))
    null = HLM(y, X0, X0).fit()
    ok = rng.random(n) >= missing
    X = np.column_stack([X0[ok], x[ok]])
    return null, y[ok], X


@pytest.mark.parametrize("effect,missing", [(0.0, 0.0), (0.15, 0.0), (0.15, 0.05)])
def test_fit_warm_start_reaches_the_cold_optimum(rng, effect, missing):
    """fit(start=null) -- from the null model's estimates with the SNP's effects at 0 and
    its exact Hessian (the scan's --fit-covariates path) -- gives the cold fit's
    estimates, likelihood and SEs, also when the SNP drops individuals."""
    null, y, X = _nested_case(rng, effect, missing=missing)
    cold = HLM(y, X, X).fit()
    warm = HLM(y, X, X.copy()).fit(start=null)
    assert cold.converged and warm.converged
    assert warm.n_iter <= 8
    # both stop within ~1e-7 SEs (SEs here ~0.03) of the MLE
    np.testing.assert_allclose(warm.alpha, cold.alpha, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(warm.beta, cold.beta, rtol=1e-7, atol=1e-8)
    assert warm.loglik == pytest.approx(cold.loglik, abs=1e-8)
    np.testing.assert_allclose(warm.cov_params(), cold.cov_params(), rtol=1e-7,
                               atol=1e-14)


def test_fit_start_hessian_is_the_exact_hessian(rng):
    """The Hessian a fit leaves for nested fits is −2 × numdifftools' Hessian of L."""
    y, X, V = simulate(rng, 300, 2, 3)
    m = HLM(y, X, V)
    res = m.fit()
    H = nd.Hessian(lambda t: m.loglik(t[:2], t[2:]), step=1e-4)(res.params)
    np.testing.assert_allclose(res._hessian_f, -2.0 * H, rtol=1e-6, atol=1e-7 * np.abs(H).max())


def test_fit_warm_start_far_from_the_mle_falls_back_to_newton(rng):
    null, y, X = _nested_case(rng, 0.1)
    ref = HLM(y, X, X).fit()
    other = HLM(rng.standard_normal(len(y)) * 5 + 3, X[:, :-1], X[:, :-1]).fit()
    for start in (other, HLM(y, X[:, :1], X[:, :1]).fit()):
        res = HLM(y, X, X).fit(start=start)
        assert res.converged
        np.testing.assert_allclose(res.beta, ref.beta, rtol=1e-7, atol=1e-8)
        assert res.loglik == pytest.approx(ref.loglik, abs=1e-8)


def test_fit_recovers_simulated_parameters():
    rng = np.random.default_rng(7)
    n = 50_000
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    V = np.column_stack([np.ones(n), rng.standard_normal(n)])
    alpha, beta = np.array([1.0, -0.5]), np.array([0.3, 0.4])
    y = X @ alpha + np.exp(0.5 * V @ beta) * rng.standard_normal(n)
    res = HLM(y, X, V).fit()
    assert np.all(np.abs(res.alpha - alpha) < 4 * res.alpha_se)
    assert np.all(np.abs(res.beta - beta) < 4 * res.beta_se)


# --- standard errors and the results object ------------------------------------------
def test_standard_errors_are_the_originals_definitions(rng):
    y, X, V = simulate(rng, 400, 3, 2)
    res = HLM(y, X, V).fit()
    d = np.exp(V @ res.beta)
    cov_a = np.linalg.inv(X.T @ (X / d[:, None]))
    cov_b = 2.0 * np.linalg.inv(V.T @ V)
    np.testing.assert_allclose(res.alpha_cov, cov_a, rtol=1e-9)
    np.testing.assert_allclose(res.beta_cov, cov_b, rtol=1e-12)
    np.testing.assert_allclose(res.alpha_se, np.sqrt(np.diag(cov_a)), rtol=1e-9)
    np.testing.assert_allclose(res.beta_se, np.sqrt(np.diag(cov_b)), rtol=1e-12)
    full = res.cov_params()
    assert full.shape == (5, 5)
    assert np.all(full[:3, 3:] == 0) and np.all(full[3:, :3] == 0)


def test_results_tvalues_pvalues_summary(rng):
    y, X, V = simulate(rng, 400, 2, 2)
    res = HLM(y, X, V).fit()
    params = np.concatenate([res.alpha, res.beta])
    se = np.concatenate([res.alpha_se, res.beta_se])
    np.testing.assert_array_equal(res.params, params)
    np.testing.assert_allclose(res.tvalues, params / se, rtol=1e-14)
    np.testing.assert_allclose(res.pvalues, 2 * stats.norm.sf(np.abs(params / se)), rtol=1e-12)
    assert res.h2 is None and res.nobs == 400 and isinstance(res.n_iter, int)
    text = res.summary()
    assert "HLM" in text and "converged = True" in text
    assert f"{res.loglik:.6f}" in text
    for name, est in zip(res.param_names, params):
        line = next(s for s in text.splitlines() if s.startswith(name + " "))
        assert float(line.split()[1]) == pytest.approx(est, rel=1e-5)


# --- scale safety --------------------------------------------------------------------
@pytest.mark.parametrize("scale,shift", [(1e4, 0.0), (1.0, 1e6), (1e-4, 0.0), (1e4, 1e6),
                                         (1e-100, 0.0), (1e100, 0.0)])
def test_scale_and_shift_of_y_leave_t_statistics(rng, scale, shift):
    y, X, V = simulate(rng, 3000, 3, 3)
    ref = HLM(y, X, V).fit()
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        res = HLM(scale * y + shift, X, V).fit()
        t = res.tvalues
        summary = res.summary()
    assert res.converged
    assert np.all(np.isfinite(res.params)) and np.all(np.isfinite(res.bse))
    assert np.all(np.isfinite(t)) and np.isfinite(res.loglik) and "nan" not in summary
    keep = [1, 2, 4, 5]  # not the intercepts of the mean and of the log-variance
    np.testing.assert_allclose(t[keep], ref.tvalues[keep], rtol=1e-6)
    np.testing.assert_allclose(res.beta[0], ref.beta[0] + 2 * np.log(scale), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(res.alpha[1:], scale * ref.alpha[1:], rtol=1e-6)
    assert res.loglik == pytest.approx(ref.loglik - 3000 * np.log(scale), rel=1e-9, abs=1e-6)


# --- bad input -------------------------------------------------------------------------
def _bad_inputs(rng):
    y, X, V = simulate(rng, 20, 2, 2)
    y_nan = y.copy(); y_nan[3] = np.nan  # noqa: E702
    X_inf = X.copy(); X_inf[5, 1] = np.inf  # noqa: E702
    V_nan = V.copy(); V_nan[0, 1] = np.nan  # noqa: E702
    X_dup = np.column_stack([X, 2 * X[:, 1]])
    V_dup = np.column_stack([V, V[:, 0] + V[:, 1]])
    X_zero = np.column_stack([X, np.zeros(20)])
    return [
        ("X", (y, X[:-1], V)),
        ("V", (y, X, V[:-2])),
        ("y", (y_nan, X, V)),
        ("y", (np.inf * y, X, V)),
        ("X", (y, X_inf, V)),
        ("V", (y, X, V_nan)),
        ("X", (y, X_dup, V)),
        ("V", (y, X, V_dup)),
        ("X", (y, X_zero, V)),
        ("y", (y[:4], X[:4], V[:4])),     # n = p + q
        ("y", (y[:3], X[:3], V[:3])),     # n < p + q
        ("y", (np.column_stack([y, y]), X, V)),
        ("y", (np.array([]), X[:0], V[:0])),
        ("X", (y, X[:, :, None], V)),
    ]


@pytest.mark.parametrize("case", range(14))
def test_bad_input_raises_value_error_naming_the_argument(rng, case):
    name, args = _bad_inputs(rng)[case]
    with pytest.raises(ValueError) as info:
        HLM(*args)
    assert re.search(rf"\b{name}\b", str(info.value)), str(info.value)


def test_exact_fit_and_non_numeric_input_raise_value_error(rng):
    n = 50
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    for y in (np.full(n, 3.0), 1.0 + 2.0 * x, np.zeros(n)):
        with pytest.raises(ValueError, match=r"\by\b.*exactly"):
            HLM(y, X, X).fit()
    with pytest.raises(ValueError, match=r"^y must be numeric"):
        HLM(["a"] * n, X, X)
    with pytest.raises(ValueError, match=r"^V must be numeric"):
        HLM(x, X, [{}] * n)


def test_unbounded_likelihood_ends_unconverged_without_warnings(rng):
    # One variance group is fitted exactly by its own mean: L → ∞ as its variance → 0.
    n = 200
    g = (rng.standard_normal(n) > 0).astype(float)
    y = np.where(g == 1, 1.0, rng.standard_normal(n))
    X = V = np.column_stack([np.ones(n), g])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = HLM(y, X, V).fit(max_iter=50)
    assert not res.converged
    assert res.beta[1] < -20


def test_rank_check_is_exact_for_nearly_collinear_but_full_rank(rng):
    # Collinear up to 1e-6 after scaling: the fast Gram test is inconclusive, the SVD decides.
    n = 500
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), 1e6 + x])
    y = rng.standard_normal(n)
    HLM(y, X, np.ones(n))
    with pytest.raises(ValueError, match=r"\bX\b"):
        HLM(y, np.column_stack([np.ones(n), 1e6 + 0 * x]), np.ones(n))


def test_parameter_length_errors_name_the_parameter(rng):
    y, X, V = simulate(rng, 30, 2, 3)
    m = HLM(y, X, V)
    with pytest.raises(ValueError, match=r"\bbeta\b"):
        m.loglik([0.0, 0.0], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"\balpha\b"):
        m.loglik([0.0], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"\bbeta\b"):
        m.alpha_mle([0.0])
    with pytest.raises(ValueError, match=r"\bbeta\b"):
        m.fit(beta_init=[0.0])


def test_hlm_exported():
    assert hlmm.HLM is HLM
