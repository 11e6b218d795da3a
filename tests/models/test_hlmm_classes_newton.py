"""The class-statistics HLMM's Newton (``_newton_exact``) and its l×l kernels: the chord
steps that skip a middle Hessian reach the optimum of the always-refreshed Newton, and
the returned Hessian (the SEs') is always the exact one at the last point evaluated."""
import numpy as np
import pytest
from scipy.linalg import lapack

from hlmm._core import _classfit
from hlmm.models.hlmm_classes import ClassStatsHLMM, _newton_exact, _start


def _model(rng, n=3000, l=40):
    """One SNP's ClassStatsHLMM (classes 0, 1, 2; a variance effect) from dense sums."""
    g = rng.binomial(2, 0.3, n)
    G = rng.standard_normal((n, l)) / np.sqrt(l)
    x = g - g.mean()
    y = (G @ rng.standard_normal(l) * np.sqrt(0.4)
         + rng.standard_normal(n) * np.sqrt(0.6) * np.exp(0.15 * x) + 0.1 * x)
    y = (y - y.mean()) / y.std()
    cls = [np.flatnonzero(g == k) for k in range(3)]
    return ClassStatsHLMM([len(c) for c in cls], [y[c].sum() for c in cls],
                          [y[c] @ y[c] for c in cls], [G[c].sum(0) for c in cls],
                          [G[c].T @ y[c] for c in cls],
                          [np.ascontiguousarray(G[c].T @ G[c]) for c in cls],
                          np.arange(3.0) - g.mean())


class _Counted:
    """The model, counting Hessians and remembering the last point evaluated."""

    def __init__(self, model):
        self.model, self.hessians, self.last = model, 0, None
        self.mean_gg = model.mean_gg

    def evaluate(self, beta, h2, alpha=None):
        self.last = (np.array(beta, float), float(h2))
        return self.model.evaluate(beta, h2, alpha)

    def hessian(self):
        self.hessians += 1
        return self.model.hessian()


def _ses(H):
    return np.sqrt(np.diag(np.linalg.inv(H)))


@pytest.mark.parametrize("se_moved", [1e-8, 0.0])
def test_chord_steps_reach_the_refreshed_newtons_optimum(rng, se_moved):
    model = _model(rng)
    theta0 = np.array([-0.2, 0.05, 0.25])     # far: 3 or more iterates
    runs = {}
    for name, kw in (("refresh", dict(chord=0.0)),                  # a Hessian per iterate
                     ("chord", dict(chord=np.inf, chord_max=np.inf))):  # kept when it can
        m = _Counted(model)
        fit = _newton_exact(m, theta0, 1e-5, 1e-10, 50, se_moved=se_moved, **kw)
        assert not isinstance(fit, str), fit
        runs[name] = (fit, m)
        # the returned Hessian is the exact one at the last point evaluated (with
        # se_moved, one from within that decrement of it: SEs within ~1e-6)
        beta, h2 = m.last
        model.evaluate(beta, h2)
        if se_moved == 0:
            np.testing.assert_allclose(fit[7], model.hessian(), rtol=1e-12, atol=1e-12)
        else:
            np.testing.assert_allclose(_ses(fit[7]), _ses(model.hessian()), rtol=1e-5)
    (a, ma), (b, mb) = runs["refresh"], runs["chord"]
    assert mb.hessians < ma.hessians            # the shortcut was taken
    np.testing.assert_allclose(b[0], a[0], rtol=0, atol=1e-7)
    assert abs(b[1] / a[1] - 1) < 1e-12
    np.testing.assert_allclose(b[3], a[3], rtol=0, atol=1e-7)
    # (se_moved = 1e-8 lets either run keep a Hessian from 1e-4 SEs away: h2's SE to ~1e-5)
    np.testing.assert_allclose(_ses(b[7]), _ses(a[7]), rtol=1e-6 if se_moved == 0 else 1e-5)


def test_default_chord_rule_agrees_and_ends_at_a_stationary_point(rng):
    model = _model(rng)
    fit = _newton_exact(model, np.array([-0.1, 0.0, 0.3]), 1e-5, 1e-10, 50)
    assert not isinstance(fit, str), fit
    theta = fit[0]
    start = _start(model, theta, 1e-5)
    g = start[1][1][2:]
    H = model.hessian()
    Hp = H[2:, 2:] - H[2:, :2] @ np.linalg.solve(H[:2, :2], H[:2, 2:])
    assert g @ np.linalg.solve(Hp, g) < 1e-9       # the decrement at the returned point


@pytest.mark.parametrize("l", [40, 65, 150, 301])
def test_chol_inverse_inplace_against_lapack(rng, l):
    """Past 64 columns the triangular inverse is recursive (dtrmm blocks): equal to
    LAPACK's dpotri to rounding, and the inverse of A."""
    X = rng.normal(size=(2 * l, l))
    A = X.T @ X + np.eye(l)
    c, _ = lapack.dpotrf(A, lower=0)
    ref, _ = lapack.dpotri(c, lower=0)
    ref = np.triu(ref) + np.triu(ref, 1).T
    Ainv = A.copy()
    logdet = _classfit.chol_inverse_inplace(Ainv)
    np.testing.assert_allclose(Ainv, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_array_equal(Ainv, Ainv.T)
    np.testing.assert_allclose(Ainv @ A, np.eye(l), atol=1e-10)
    assert logdet == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    bad = A.copy()
    bad[l // 2, l // 2] = -1.0
    assert _classfit.chol_inverse_inplace(bad) is None
    # with the inverse factor: A = LLᵀ, L⁻¹ lower triangular
    B, Linv = A.copy(), np.full((l, l), np.nan)
    assert _classfit.chol_inverse_factor(B, Linv) == pytest.approx(logdet, rel=1e-14)
    np.testing.assert_array_equal(B, Ainv)
    np.testing.assert_array_equal(np.triu(Linv, 1), 0.0)
    L = np.linalg.cholesky(A)
    np.testing.assert_allclose(Linv @ L, np.eye(l), atol=1e-12)
    bad = A.copy()
    bad[l // 2, l // 2] = -1.0
    assert _classfit.chol_inverse_factor(bad, Linv) is None


def test_inner_products_ie_against_numpy(rng):
    l = 37
    B = rng.normal(size=(l, l))
    B = B + B.T
    Z = rng.normal(size=(l, l))
    E = np.eye(l) - B
    got = _classfit.inner_products_ie(B, Z)
    np.testing.assert_allclose(got, [(B * Z).sum(), (E * E).sum(), (B * E).sum(),
                                     (E * Z).sum()], rtol=1e-12)
    # E kept exact where it is tiny (B near I): no cancellation
    B = np.eye(l) + 1e-9 * (B / np.abs(B).max())
    ee = _classfit.inner_products_ie(B, Z)[1]
    assert ee == pytest.approx(((np.eye(l) - B) ** 2).sum(), rel=1e-6)


def _carrier_model(G, y, g):
    """CarrierStatsHLMM of dosages g: the modal value one class, the rest rows."""
    from hlmm.models.hlmm_carriers import CarrierStatsHLMM

    x = g - g.mean()
    vals, cnt = np.unique(g, return_counts=True)
    m = g == vals[np.argmax(cnt)]
    c = ~m
    return CarrierStatsHLMM(m.sum(), y[m].sum(), y[m] @ y[m], G[m].sum(0), G[m].T @ y[m],
                            np.ascontiguousarray(G[m].T @ G[m]), x[m][0],
                            np.ascontiguousarray(G[c]), y[c], x[c])


@pytest.mark.parametrize("h2", [0.3, 0.0])
def test_carrier_hessian_equals_the_class_hessian_on_hard_calls(rng, h2):
    """Hard calls as dosages: the carriers (classes of one) and the genotype classes are
    the same model, so evaluations and exact Hessians agree to rounding."""
    n, l = 500, 12
    G = rng.standard_normal((n, l)) / np.sqrt(l)
    g = rng.binomial(2, 0.3, n).astype(float)
    y = G @ rng.standard_normal(l) * 0.6 + rng.standard_normal(n) * np.exp(0.2 * g)
    x = g - g.mean()
    cls = [np.flatnonzero(g == k) for k in range(3)]
    cm = ClassStatsHLMM([len(c) for c in cls], [y[c].sum() for c in cls],
                        [y[c] @ y[c] for c in cls], [G[c].sum(0) for c in cls],
                        [G[c].T @ y[c] for c in cls],
                        [np.ascontiguousarray(G[c].T @ G[c]) for c in cls],
                        np.arange(3.0) - g.mean())
    cc = _carrier_model(G, y, g)
    a, b = cm.evaluate([0.1, 0.2], h2), cc.evaluate([0.1, 0.2], h2)
    assert b[0] == pytest.approx(a[0], rel=1e-13)
    np.testing.assert_allclose(b[1], a[1], rtol=0, atol=1e-10)
    Ha = cm.hessian()
    np.testing.assert_allclose(cc.hessian(), Ha, rtol=0, atol=1e-12 * np.abs(Ha).max())
    assert cc.mean_gg() == pytest.approx((G ** 2).sum() / n, rel=1e-13)


def test_carrier_hessian_matches_the_differenced_gradient(rng):
    n, l = 500, 12
    G = rng.standard_normal((n, l)) / np.sqrt(l)
    g = rng.binomial(2, 0.3, n).astype(float)
    g = np.clip(g + np.where(rng.random(n) < 0.3, rng.normal(0, 0.3, n), 0), 0, 2)
    y = G @ rng.standard_normal(l) * 0.6 + rng.standard_normal(n) * np.exp(0.2 * g)
    model = _carrier_model(G, y, g)
    p0 = np.array([0.02, 0.1, 0.05, 0.1, 0.25])          # α0, α1, β0, β1, h2
    model.evaluate(p0[2:4], p0[4], p0[:2])
    H = model.hessian()
    num = np.empty((5, 5))
    for j in range(5):
        pp, pm = p0.copy(), p0.copy()
        pp[j] += 1e-6
        pm[j] -= 1e-6
        num[:, j] = (model.evaluate(pp[2:4], pp[4], pp[:2])[1]
                     - model.evaluate(pm[2:4], pm[4], pm[:2])[1]) / 2e-6
    np.testing.assert_allclose(H, num, rtol=0, atol=1e-8 * np.abs(H).max())
