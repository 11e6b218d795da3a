"""The original hlmm 1.x API (hlmm.hetlmm) against dense formulas."""
import numdifftools as nd
import numpy as np
import pytest

import hlmm
from hlmm import hetlmm

from dense_hlmm import dense_alpha, dense_grad, dense_hess, dense_loglik, make_data

LOG2PI = np.log(2 * np.pi)


@pytest.fixture
def data():
    return make_data(120, 2, 2, 12, h2=0.6, seed=21)


def test_attributes_and_one_dimensional_inputs(data):
    y, X, V, G = data
    m = hetlmm.model(y, X, V, G)
    assert (m.n, m.l, m.n_fixed_mean, m.n_fixed_variance) == (120, 12, 2, 2)
    for name, arr in zip("yXVG", data):
        np.testing.assert_array_equal(getattr(m, name), arr)
    m1 = hetlmm.model(y, X[:, 0], V[:, 0], G[:, 0])
    assert (m1.l, m1.n_fixed_mean, m1.n_fixed_variance) == (1, 1, 1)
    assert m1.G.shape == (120, 1)
    with pytest.raises(ValueError, match="G"):
        hetlmm.model(y, X, V, G[:-2])


def test_likelihood_values(data):
    y, X, V, G = data
    m = hetlmm.model(y, X, V, G)
    beta, h2 = np.array([0.1, -0.2]), 0.3
    a = dense_alpha(y, X, V, G, beta, h2)
    L = dense_loglik(y, X, V, G, a, beta, h2)
    assert m.likelihood(beta, h2) == pytest.approx(L, rel=1e-12)
    assert m.likelihood(beta, h2, negative=True) == pytest.approx(-2 * L / 120 - LOG2PI, rel=1e-12)
    only = m.likelihood_and_gradient(beta, h2, return_grad=False)
    assert np.ndim(only) == 0 and only == pytest.approx(-2 * L / 120 - LOG2PI, rel=1e-12)
    np.testing.assert_allclose(m.alpha_mle(beta, h2), a, rtol=1e-9)
    np.testing.assert_allclose(m.alpha_ols(), np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10)


def test_likelihood_and_gradient_matches_numdifftools(data):
    y, X, V, G = data
    m = hetlmm.model(y, X, V, G)
    th = np.array([0.1, -0.2, 0.3])
    f, g = m.likelihood_and_gradient(th[:2], th[2])
    assert g.shape == (3,)
    num = nd.Gradient(lambda t: m.likelihood_and_gradient(t[:2], t[2], return_grad=False),
                      step=1e-5)(th)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9)
    # = −2/n × the dense partial gradient at α̂
    a = dense_alpha(y, X, V, G, th[:2], th[2])
    np.testing.assert_allclose(g, -2 / 120 * dense_grad(y, X, V, G, a, th[:2], th[2])[2:],
                               rtol=1e-8, atol=1e-12)


def test_optimize_model_keys_and_values(data):
    y, X, V, G = data
    m = hetlmm.model(y, X, V, G)
    opt = m.optimize_model(0.2)
    assert set(opt) == {"alpha", "beta", "h2", "alpha_se", "beta_se", "h2_se", "par_cov",
                        "likelihood", "success", "warnflag"}
    assert opt["success"] and opt["warnflag"] == 0
    res = hlmm.HLMM(y, X, V, G).fit()
    assert opt["likelihood"] == pytest.approx(res.loglik, abs=1e-9)
    np.testing.assert_allclose(np.concatenate([opt["alpha"], opt["beta"], [opt["h2"]]]),
                               res.params, atol=1e-6)
    assert opt["likelihood"] == pytest.approx(
        dense_loglik(y, X, V, G, opt["alpha"], opt["beta"], opt["h2"]), rel=1e-12)
    # par_cov = inv(½H), H the Hessian of −2L (numdifftools on the dense likelihood)
    th = np.concatenate([opt["alpha"], opt["beta"], [opt["h2"]]])
    H = -2 * nd.Hessian(lambda t: dense_loglik(y, X, V, G, t[:2], t[2:4], t[4]), step=1e-4)(th)
    cov = np.linalg.inv(0.5 * H)
    np.testing.assert_allclose(opt["par_cov"], cov, rtol=1e-3, atol=1e-3 * np.abs(cov).max())
    se = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(opt["alpha_se"], se[:2], rtol=1e-3)
    np.testing.assert_allclose(opt["beta_se"], se[2:4], rtol=1e-3)
    assert opt["h2_se"] == pytest.approx(se[4], rel=1e-3)
    no_se = m.optimize_model(0.2, SEs=False)
    assert "par_cov" not in no_se and no_se["h2"] == pytest.approx(opt["h2"], abs=1e-9)


def test_optimize_model_h2_lower_bound_is_the_originals():
    y, X, V, G = hlmm.simulate(200, 20, [1.0, 0.5], [0.1], 0.0, seed=6)
    X = np.column_stack([np.ones(200), X[:, 1]])
    opt = hetlmm.model(y, X, np.ones(200), G).optimize_model(0.5)
    assert opt["success"] and opt["h2"] == pytest.approx(1e-5)


def test_parameter_covariance_matches_dense(data):
    y, X, V, G = data
    m = hetlmm.model(y, X, V, G)
    a, b, h2 = np.array([0.3, -0.1]), np.array([0.2, 0.1]), 0.4
    th = np.concatenate([a, b, [h2]])
    H = dense_hess(y, X, V, G, th, 2, 2)
    np.testing.assert_allclose(m.parameter_covariance(a, b, h2), np.linalg.inv(-H), rtol=1e-5)


def test_simulate_returns_model():
    m = hetlmm.simulate(150, 30, np.array([1.0, 0.2]), np.array([0.1]), 0.5)
    assert isinstance(m, hetlmm.model)
    assert m.y.shape == (150,) and m.X.shape == (150, 2) and m.V.shape == (150, 1)
    assert m.G.shape == (150, 30) and m.l == 30
