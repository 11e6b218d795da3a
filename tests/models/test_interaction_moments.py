"""The exact GxE fits from weighted class moments (hlmm.models.interaction_moments)
against HLM.fit of the full design, dense sums and numerical derivatives."""
from math import factorial

import numpy as np
import pytest

from hlmm.models.hlm import HLM
from hlmm.models.interaction import snp_columns
from hlmm.models.interaction_moments import MomentFits, MomentLayout, taylor_radius


def _data(n=20000, var_covar=False, seed=0):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((n, 2))
    E = rng.standard_normal(n)
    X0 = np.column_stack([np.ones(n), C, E])
    V0 = np.column_stack([np.ones(n), C[:, 0], E]) if var_covar else \
        np.column_stack([np.ones(n), E])
    m = 12
    codes = np.array([rng.binomial(2, rng.uniform(0.1, 0.5), n) for _ in range(m)],
                     dtype=np.int8)
    codes[:4, rng.choice(n, 60, replace=False)] = -1            # missing calls
    x1 = codes[1] - codes[1][codes[1] >= 0].mean()
    y = (C @ [0.3, -0.2] + 0.5 * E + 0.15 * np.where(codes[1] >= 0, x1, 0.0) * E
         + np.exp(0.3 * E + 0.1 * C[:, 0]) * rng.standard_normal(n))
    null = HLM(y, X0, V0).fit()
    return y, X0, V0, E, codes, null


def _fits(y, X0, V0, codes, null, e_col=3):
    u = V0[:, 1:]
    zu = [next((s for s in range(u.shape[1]) if np.array_equal(X0[:, a], u[:, s])), -1)
          if a else -1 for a in range(X0.shape[1])] + [-1]
    lay = MomentLayout.choose(X0.shape[1] + 1, u.shape[1], zu, len(y))
    F = lay.features(np.column_stack([X0, y]), u, np.exp(-(V0 @ null.beta)))
    out = np.stack([(codes == c).astype(float) @ F for c in range(3)], axis=1)
    Mom, N = lay.unpack(out)
    nk = N[:, :, 0]
    f = (nk[:, 1] + 2 * nk[:, 2]) / (2 * nk.sum(axis=1))
    xk = np.arange(3.0)[None] - 2 * f[:, None]
    return MomentFits(lay, Mom, N, xk, [e_col], null.alpha, null.beta, np.abs(u).max(0))


@pytest.mark.parametrize("var_covar", [False, True])
def test_moment_fits_equal_hlm_fit(var_covar):
    y, X0, V0, E, codes, null = _data(var_covar=var_covar)
    mf = _fits(y, X0, V0, codes, null)
    th, f, H, status = mf.fit()
    # (the planted g·E of SNP 1 may move the covariates' variance effects beyond the
    # bound; the others stay within it)
    assert np.all(np.delete(status, 1) == 0)
    ok = np.flatnonzero(status == 0)
    ca, cb = np.zeros((len(th), mf.p, mf.p)), np.zeros((len(th), mf.q, mf.q))
    ca[ok], cb[ok] = mf.covariances(H[ok], ok)
    p = mf.p
    for j in ok:
        ok = codes[j] >= 0
        g = codes[j][ok].astype(float)
        d = snp_columns(g - g.mean(), E[ok], X0[ok], V0[ok])
        res = HLM(y[ok], d.X, d.V).fit()
        np.testing.assert_allclose(th[j, :p], res.alpha, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(th[j, p:], res.beta, rtol=1e-7, atol=1e-9)
        loglik = -0.5 * (f[j] + ok.sum() * np.log(2 * np.pi))
        assert abs(loglik - res.loglik) < 1e-8 * abs(res.loglik)
        cov = res.cov_params()
        np.testing.assert_allclose(ca[j], cov[:p, :p], rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(cb[j], cov[p:, p:], rtol=1e-6, atol=1e-12)
    if status[1] == 0:                   # the planted g·E of SNP 1 is found
        assert abs(th[1, p - 1] / np.sqrt(ca[1, p - 1, p - 1])) > 4
    else:
        assert status[1] in (2, 5)


def _dense(y, X0, V0, codes_j, xk, th, e_col, p):
    """f, gradient and Hessian of one SNP by direct sums with exact weights."""
    ok = codes_j >= 0
    x = xk[codes_j[ok]]
    X = np.column_stack([X0[ok], x, x * X0[ok, e_col]])
    V = np.column_stack([V0[ok], x])
    a, b = th[:p], th[p:]
    eta = V @ b
    w = np.exp(-eta)
    r = y[ok] - X @ a
    f = eta.sum() + (w * r * r).sum()
    g = np.r_[-2 * X.T @ (w * r), V.T @ (1 - w * r * r)]
    H = np.block([[2 * (X.T * w) @ X, 2 * (X.T * (w * r)) @ V],
                  [2 * (V.T * (w * r)) @ X, (V.T * (w * r * r)) @ V]])
    return f, g, H


def test_evaluate_exact_up_to_the_taylor_bound():
    """At points whose covariate variance effects are moved to the edge of the bound,
    f, its gradient and Hessian equal direct sums with exact weights (relative 1e-11),
    and a point beyond the bound is refused."""
    y, X0, V0, E, codes, null = _data(var_covar=True)
    mf = _fits(y, X0, V0, codes, null)
    rng = np.random.default_rng(3)
    rows = np.arange(6)
    th = mf.start()[rows]
    th[:, :mf.p] += 0.01 * rng.standard_normal((6, mf.p))
    th[:, mf.p] += 0.02
    th[:, -1] = 0.05                                        # the SNP's variance effect
    # the covariates' variance effects moved to 0.999 of the radius
    dirn = rng.standard_normal((6, mf.q0 - 1))
    scale = np.abs(dirn) @ mf.umax
    th[:, mf.p + 1:mf.p + mf.q0] = null.beta[1:] + 0.999 * mf.lay.radius * dirn / scale[:, None]
    assert np.all(mf.valid(th))
    f, g, H = mf.evaluate(th, rows)
    for j in rows:
        fd, gd, Hd = _dense(y, X0, V0, codes[j], mf.xk[j], th[j], 3, mf.p)
        assert abs(f[j] - fd) <= 1e-11 * abs(fd)
        np.testing.assert_allclose(g[j], gd, rtol=1e-9, atol=1e-9 * np.abs(gd).max())
        np.testing.assert_allclose(H[j], Hd, rtol=1e-10, atol=1e-11 * np.abs(Hd).max())
    th[:, mf.p + 1:mf.p + mf.q0] = null.beta[1:] + 1.01 * mf.lay.radius * dirn / scale[:, None]
    assert not np.any(mf.valid(th))


def test_gradient_and_hessian_are_the_derivatives_of_f():
    y, X0, V0, E, codes, null = _data()
    mf = _fits(y, X0, V0, codes, null)
    th0 = mf.start()[:1].copy()
    th0[0, mf.p - 2:mf.p] = [0.05, -0.03]
    th0[0, -1] = 0.04
    f, g, H = mf.evaluate(th0, np.array([0]))
    h = 1e-6
    for i in range(th0.shape[1]):
        e = np.zeros_like(th0)
        e[0, i] = h
        fp, gp, _ = mf.evaluate(th0 + e, np.array([0]), hessian=False)
        fm, gm, _ = mf.evaluate(th0 - e, np.array([0]), hessian=False)
        assert abs((fp - fm)[0] / (2 * h) - g[0, i]) < 1e-4 * (1 + abs(g[0, i]))
        np.testing.assert_allclose((gp - gm)[0] / (2 * h), H[0, :, i], rtol=1e-5,
                                   atol=1e-4 * np.abs(H[0]).max())


def test_taylor_radius_meets_the_bound():
    for D in (3, 5, 8):
        T = taylor_radius(D)
        assert T ** (D + 1) / factorial(D + 1) * np.exp(2 * T) <= 1e-13
        T2 = 1.01 * T
        assert T2 ** (D + 1) / factorial(D + 1) * np.exp(2 * T2) > 1e-13


def test_a_strong_snp_leaves_the_bound_instead_of_a_wrong_fit():
    """A SNP that moves the covariate's variance effect far (variance effect 1.5 on a
    SNP correlated with E) is reported outside the bound (status 5), not fitted."""
    rng = np.random.default_rng(5)
    n = 4000
    E = rng.standard_normal(n)
    g = np.clip(np.rint(1 + 0.9 * E + 0.3 * rng.standard_normal(n)), 0, 2).astype(np.int8)
    X0 = np.column_stack([np.ones(n), E])
    V0 = np.column_stack([np.ones(n), E])
    y = 0.2 * E + np.exp(0.75 * (g - 1.0)) * rng.standard_normal(n)
    null = HLM(y, X0, V0).fit()
    mf = _fits(y, X0, V0, g[None, :], null, e_col=1)
    th, f, H, status = mf.fit()
    assert status[0] == 5


def test_layout_choice_respects_columns_and_memory():
    # E alone in the variance: a high order is cheap; E shared by both designs
    lay = MomentLayout.choose(5, 1, [-1, -1, -1, 0, -1], 20000)
    assert lay.radius >= 0.02 and lay.n_columns <= 256
    # the moments sum E's products once: fewer columns than pairs × monomials
    assert lay.n_columns < len(lay.pairs) * len(lay.mono)
    # too little memory for even the lowest order: the per-SNP path
    assert MomentLayout.choose(5, 1, [-1, -1, -1, 0, -1], 10 ** 6, memory=10 ** 8) is None
    # many variance covariates: the per-SNP path
    assert MomentLayout.choose(8, 5, None, 20000) is None
