"""Behaviours of the original hlmm 1.x API (hlmm.hetlm, hlmm.hetlmm) that old scripts and
the original's own tests rely on: models with more parameters than observations can be
evaluated (only fitting refuses them), hetlmm.simulate draws from numpy's global random
state, and the shapes the original returned."""
import numdifftools as nd
import numpy as np
import pytest

import hlmm
from hlmm import hetlm, hetlmm

LOG2PI = np.log(2 * np.pi)


def dense_profile_f(y, X, V, G, beta, h2):
    """``−2L(α̂)/n − log2π`` with Σ = diag(exp(Vβ)) + h2·GGᵀ formed explicitly."""
    S = h2 * G @ G.T + np.diag(np.exp(V @ beta))
    Si = np.linalg.inv(S)
    alpha = np.linalg.solve(X.T @ Si @ X, X.T @ Si @ y)
    r = y - X @ alpha
    logdet = np.linalg.slogdet(S)[1]
    return (logdet + r @ Si @ r) / y.size, alpha


def central_gradient(f, x, h=1e-6):
    g = np.empty(x.size)
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def mixed_data(n, p, q, l, seed):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, p))
    V = r.standard_normal((n, q))
    G = r.standard_normal((n, l)) / np.sqrt(l)
    y = X @ r.normal(0, 0.3, p) + r.standard_normal(n) + 0.5 * G @ r.standard_normal(l)
    return y, X, V, G


# --- hetlmm: more parameters than observations -----------------------------------------

@pytest.mark.parametrize("n, p, q, l", [(30, 2, 28, 10),   # p + q + 1 = n + 1
                                        (30, 2, 30, 40),   # q = n, as the original's test
                                        (12, 3, 9, 5)])    # p + q = n
def test_hetlmm_more_parameters_than_observations_evaluates(n, p, q, l):
    y, X, V, G = mixed_data(n, p, q, l, seed=n + q)
    assert p + q + 1 > n
    m = hetlmm.model(y, X, V, G)
    assert (m.n, m.n_fixed_mean, m.n_fixed_variance, m.l) == (n, p, q, l)
    beta = np.random.default_rng(1).normal(0, 0.05, q)
    h2 = 0.4
    f_dense, a_dense = dense_profile_f(y, X, V, G, beta, h2)
    # likelihood, alpha_mle and likelihood_and_gradient all work, and are right
    assert m.likelihood(beta, h2, negative=True) == pytest.approx(f_dense, rel=1e-10)
    assert m.likelihood(beta, h2) == pytest.approx(-0.5 * n * (f_dense + LOG2PI), rel=1e-10)
    np.testing.assert_allclose(m.alpha_mle(beta, h2), a_dense, rtol=1e-7, atol=1e-10)
    f, grad = m.likelihood_and_gradient(beta, h2)
    assert f == pytest.approx(f_dense, rel=1e-10)
    assert grad.shape == (q + 1,)
    theta = np.append(beta, h2)

    def neg(t):
        return m.likelihood(t[:q], t[q], negative=True)

    np.testing.assert_allclose(grad, central_gradient(neg, theta), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, nd.Gradient(neg, step=1e-5)(theta), rtol=1e-7, atol=1e-10)
    # ... and against the dense likelihood, so that the values are not merely consistent
    np.testing.assert_allclose(
        grad, central_gradient(lambda t: dense_profile_f(y, X, V, G, t[:q], t[q])[0], theta),
        rtol=1e-5, atol=1e-7)
    # fitting is what needs n > p + q + 1
    with pytest.raises(ValueError, match=r"optimize_model: y has %d observations, too few "
                                         r"to fit %d parameters" % (n, p + q + 1)):
        m.optimize_model(0.5)
    with pytest.raises(ValueError, match="too few"):
        m.optimize_model(0.5, SEs=False)


def test_hetlmm_fit_size_limit_is_n_greater_than_p_plus_q_plus_1():
    y, X, V, G = mixed_data(40, 2, 2, 8, seed=5)
    with pytest.raises(ValueError, match="too few"):
        hetlmm.model(y[:5], X[:5], V[:5], G[:5]).optimize_model(0.3)  # n = p + q + 1
    opt = hetlmm.model(y, X, V, G).optimize_model(0.3)
    assert np.isfinite(opt["likelihood"]) and opt["alpha"].shape == (2,)


def test_new_api_classes_still_check_the_sample_size_on_construction():
    # Only the original API defers the check; hlmm.HLM and hlmm.HLMM keep it.
    y, X, V, G = mixed_data(30, 2, 28, 10, seed=2)
    with pytest.raises(ValueError, match="observations"):
        hlmm.HLMM(y, X, V, G)
    with pytest.raises(ValueError, match="observations"):
        hlmm.HLM(y[:20], X[:20, :2], V[:20, :18])


# --- hetlm: more parameters than observations ------------------------------------------

@pytest.mark.parametrize("n, p, q", [(20, 5, 15), (20, 3, 20), (10, 4, 7)])
def test_hetlm_more_parameters_than_observations_evaluates(n, p, q):
    r = np.random.default_rng(n * q + p)
    X, V = r.standard_normal((n, p)), r.standard_normal((n, q))
    y = X @ r.normal(0, 1, p) + r.standard_normal(n)
    alpha, beta = r.normal(0, 1, p), r.normal(0, 0.1, q)
    m = hetlm.model(y, X, V)
    assert (m.n, m.n_fixed_mean, m.n_fixed_variance) == (n, p, q)
    eta = V @ beta
    f = np.sum(eta) + np.sum((y - X @ alpha) ** 2 * np.exp(-eta))
    assert m.likelihood(beta, alpha, negative=True) == pytest.approx(f, rel=1e-12)
    W = np.diag(np.exp(-eta))
    np.testing.assert_allclose(m.alpha_mle(beta), np.linalg.solve(X.T @ W @ X, X.T @ W @ y),
                               rtol=1e-8)
    g = m.grad_beta(beta, alpha)
    assert g.shape == (1, q)

    def neg(b):
        return m.likelihood(b, alpha, negative=True)

    np.testing.assert_allclose(g[0], central_gradient(neg, beta), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g[0], nd.Gradient(neg, step=1e-5)(beta), rtol=1e-8, atol=1e-9)
    with pytest.raises(ValueError, match=r"optimize_model: y has %d observations, too few "
                                         r"to fit %d parameters" % (n, p + q)):
        m.optimize_model()


# --- hetlmm.simulate and numpy's global random state ------------------------------------

SIM_ARGS = (80, 15, np.array([1.0, -0.5]), np.array([0.2, 0.1, -0.1]), 0.3)


def _arrays(m):
    return m.y, m.X, m.V, m.G


def test_hetlmm_simulate_reproducible_with_np_random_seed():
    np.random.seed(123)
    a = hetlmm.simulate(*SIM_ARGS)
    np.random.seed(123)
    b = hetlmm.simulate(*SIM_ARGS)
    for u, v in zip(_arrays(a), _arrays(b)):
        np.testing.assert_array_equal(u, v)
    # a different seed, or no reseeding, gives different data
    np.random.seed(124)
    c = hetlmm.simulate(*SIM_ARGS)
    d = hetlmm.simulate(*SIM_ARGS)
    for u, v, w in zip(_arrays(a), _arrays(c), _arrays(d)):
        assert not np.array_equal(u, v)
        assert not np.array_equal(v, w)


def test_hetlmm_simulate_draws_x_v_g_as_the_original_did():
    # The original drew X, V (standard normal) then the genotype counts from np.random,
    # in this order; with the same seed they are the same numbers.
    n, l, alpha, beta, h2 = SIM_ARGS
    np.random.seed(7)
    X = np.random.randn(n * alpha.size).reshape((n, alpha.size))
    V = np.random.randn(n * beta.size).reshape((n, beta.size))
    counts = np.random.binomial(2, 0.5, (n, l))
    G = (counts - counts.mean(axis=0)) / counts.std(axis=0) / np.sqrt(l)
    next_draw = np.random.standard_normal()
    np.random.seed(7)
    m = hetlmm.simulate(n, l, alpha, beta, h2)
    np.testing.assert_array_equal(m.X, X)
    np.testing.assert_array_equal(m.V, V)
    np.testing.assert_allclose(m.G, G, rtol=1e-13, atol=1e-15)
    # y's draws came after those, from the same global state
    assert np.random.standard_normal() != next_draw


def test_new_api_simulate_keeps_its_own_generator():
    # hlmm.simulate(seed=…) neither depends on nor advances numpy's global state.
    np.random.seed(1)
    state = np.random.get_state()[1].copy()
    a = hlmm.simulate(*SIM_ARGS, seed=9)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    np.random.seed(2)
    b = hlmm.simulate(*SIM_ARGS, seed=9)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    c = hlmm.simulate(*SIM_ARGS, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a.y, c.y)


def test_simulate_accepts_a_random_state():
    a = hlmm.simulate(*SIM_ARGS, rng=np.random.RandomState(4))
    np.random.seed(4)
    b = hetlmm.simulate(*SIM_ARGS)
    for u, v in zip(a, _arrays(b)):
        np.testing.assert_array_equal(u, v)


# --- shapes the original's tests rely on ------------------------------------------------

@pytest.mark.parametrize("c, v", [(1, 1), (2, 2), (2, 10), (10, 1)])
def test_hetlmm_simulate_shapes(c, v):
    n, l = 60, 25
    np.random.seed(c * 100 + v)
    m = hetlmm.simulate(n, l, np.random.randn(c), np.random.randn(v) / 10, 0.1)
    assert isinstance(m, hetlmm.model)
    assert m.y.shape == (n,) and m.X.shape == (n, c) and m.V.shape == (n, v)
    assert m.G.shape == (n, l) and m.l == l
    beta = np.zeros(v)
    assert m.alpha_mle(beta, 0.1).shape == (c,)
    L = m.likelihood(beta, 0.1, negative=True)
    assert np.ndim(L) == 0
    out = m.likelihood_and_gradient(beta, 0.1)
    assert len(out) == 2 and np.ndim(out[0]) == 0 and out[0] == L
    assert out[1].reshape(v + 1).shape == (v + 1,)


@pytest.mark.parametrize("c, v", [(1, 1), (1, 10), (10, 2)])
def test_hetlm_shapes(c, v):
    r = np.random.default_rng(c + 10 * v)
    n = 50
    X, V, y = r.standard_normal((n, c)), r.standard_normal((n, v)), r.standard_normal(n)
    m = hetlm.model(y, X, V)
    assert np.ndim(m.likelihood(np.zeros(v), np.zeros(c), negative=True)) == 0
    assert m.alpha_mle(np.zeros(v)).shape == (c,)
    assert m.grad_beta(np.zeros(v), np.zeros(c)).shape == (1, v)
    # 1-D designs are one column, as in the original
    m1 = hetlm.model(y, X[:, 0], V[:, 0])
    assert m1.X.shape == (n, 1) and m1.V.shape == (n, 1)
    assert m1.alpha_mle(np.zeros(1)).shape == (1,)
