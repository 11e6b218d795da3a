"""hlmm.hetlm.model: the original hlmm 1.x API, against hand formulas."""
import numdifftools as nd
import numpy as np
import pytest

from hlmm import HLM, hetlm

LOG2PI = np.log(2 * np.pi)


@pytest.fixture
def data(rng):
    n = 200
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    V = np.column_stack([np.ones(n), rng.standard_normal(n)])
    y = X @ [0.5, 1.0, -1.0] + np.exp(0.5 * V @ [0.2, 0.5]) * rng.standard_normal(n)
    return y, X, V


def hand_minus2L(y, X, V, alpha, beta):
    """−2L − n·log2π = Σ_i [v_iᵀβ + (y_i − x_iᵀα)² / exp(v_iᵀβ)]."""
    total = 0.0
    for i in range(y.shape[0]):
        eta = V[i] @ beta
        total += eta + (y[i] - X[i] @ alpha) ** 2 / np.exp(eta)
    return total


def test_likelihood_and_negative_likelihood(data, rng):
    y, X, V = data
    m = hetlm.model(y, X, V)
    a, b = rng.normal(0, 1, 3), rng.normal(0, 0.5, 2)
    f = hand_minus2L(y, X, V, a, b)
    assert m.likelihood(b, a) == pytest.approx(-0.5 * (f + y.size * LOG2PI), rel=1e-12)
    assert m.likelihood(b, a, negative=True) == pytest.approx(f, rel=1e-12)


def test_alpha_mle_and_alpha_ols(data, rng):
    y, X, V = data
    m = hetlm.model(y, X, V)
    b = rng.normal(0, 0.5, 2)
    W = np.diag(np.exp(-V @ b))
    np.testing.assert_allclose(m.alpha_mle(b), np.linalg.inv(X.T @ W @ X) @ X.T @ W @ y,
                               rtol=1e-10)
    np.testing.assert_allclose(m.alpha_ols(), np.linalg.inv(X.T @ X) @ X.T @ y, rtol=1e-10)


def test_approx_beta_mle_is_one_newton_step_from_zero(data):
    y, X, V = data
    m = hetlm.model(y, X, V)
    r2 = (y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2
    A = sum(r2[i] * np.outer(V[i], V[i]) for i in range(y.size))
    b = sum(V[i] * (r2[i] - 1.0) for i in range(y.size))
    np.testing.assert_allclose(m.approx_beta_mle(), np.linalg.solve(A, b), rtol=1e-10)


def test_grad_beta_shape_and_value(data, rng):
    y, X, V = data
    m = hetlm.model(y, X, V)
    a, b = rng.normal(0, 1, 3), rng.normal(0, 0.5, 2)
    g = m.grad_beta(b, a)
    assert g.shape == (1, 2)
    e = (y - X @ a) ** 2 * np.exp(-V @ b)
    np.testing.assert_allclose(g[0], V.T @ (1.0 - e), rtol=1e-10)


def test_grad_beta_gradient_matches_numdifftools(data, rng):
    y, X, V = data
    m = hetlm.model(y, X, V)
    a, b = rng.normal(0, 1, 3), rng.normal(0, 0.5, 2)
    num = nd.Gradient(lambda bb: m.likelihood(bb, a, negative=True), step=1e-5, order=4)(b)
    np.testing.assert_allclose(m.grad_beta(b, a)[0], num, rtol=1e-7)


def test_optimize_model_dict(data):
    y, X, V = data
    m = hetlm.model(y, X, V)
    out = m.optimize_model()
    assert set(out) == {"alpha", "beta", "alpha_se", "beta_se", "alpha_cov", "beta_cov",
                        "likelihood", "success"}
    assert out["success"] is True
    res = HLM(y, X, V).fit()
    np.testing.assert_allclose(out["beta"], res.beta, rtol=1e-12)
    np.testing.assert_allclose(out["alpha"], m.alpha_mle(out["beta"]), rtol=1e-10)
    assert out["likelihood"] == pytest.approx(m.likelihood(out["beta"], out["alpha"]), rel=1e-13)
    # The MLE: −2L is stationary in β.
    assert np.max(np.abs(m.grad_beta(out["beta"], out["alpha"]))) < 1e-6 * y.size
    W = np.exp(-V @ out["beta"])
    cov_a = np.linalg.inv(X.T @ (X * W[:, None]))
    cov_b = 2 * np.linalg.inv(V.T @ V)
    np.testing.assert_allclose(out["alpha_cov"], cov_a, rtol=1e-9)
    np.testing.assert_allclose(out["beta_cov"], cov_b, rtol=1e-12)
    np.testing.assert_allclose(out["alpha_se"], np.sqrt(np.diag(cov_a)), rtol=1e-9)
    np.testing.assert_allclose(out["beta_se"], np.sqrt(np.diag(cov_b)), rtol=1e-12)
    np.testing.assert_allclose(m.alpha_cov(out["beta"]), cov_a, rtol=1e-9)
    np.testing.assert_allclose(m.beta_cov(), cov_b, rtol=1e-12)


def test_one_dimensional_X_and_V(data):
    y, X, V = data
    m = hetlm.model(y, X[:, 1], V[:, 1])
    assert m.X.shape == (y.size, 1) and m.V.shape == (y.size, 1)
    assert (m.n_fixed_mean, m.n_fixed_variance) == (1, 1)
    out = m.optimize_model()
    assert out["alpha"].shape == (1,) and out["beta"].shape == (1,) and out["success"]


def test_bad_input_names_argument(data):
    y, X, V = data
    with pytest.raises(ValueError, match=r"\bV\b"):
        hetlm.model(y, X, V[:-1])
    with pytest.raises(ValueError, match=r"\bX\b"):
        hetlm.model(y, np.column_stack([X, X[:, 1]]), V)
