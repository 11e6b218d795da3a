"""The GxE HLM (hlmm.models.interaction) against an independent dense fit."""
import numpy as np
import pytest
from scipy import stats

from dense_hlmm import dense_hlm_fit, dense_sandwich_hc0
from hlmm import HLM
from hlmm.models.interaction import interaction_design, interaction_tests, wald


def _data(gamma, seed, n=1500, delta=0.0):
    rng = np.random.default_rng(seed)
    g = rng.binomial(2, 0.3, n).astype(float)
    E = rng.normal(size=n)
    C = rng.normal(size=(n, 2))
    D = rng.normal(size=n)
    x = g - g.mean()
    v = 0.6 * E + 0.2 * D + 0.1 * x + delta * x * E
    y = C @ [0.3, -0.2] + 0.5 * E + 0.1 * x + gamma * x * E + np.exp(v / 2) * rng.normal(size=n)
    return y, g, E, C, D


@pytest.mark.parametrize("gamma,seed", [(0.0, 1), (0.25, 2)])
def test_matches_dense_oracle(gamma, seed):
    y, g, E, C, D = _data(gamma, seed)
    d = interaction_design(g, E, covariates=C, var_covariates=D)
    assert d.X_names == ["Intercept", "c1", "c2", "E", "g", "g:E"]
    assert d.V_names == ["Intercept", "d1", "E", "g"]
    res = HLM(y, d.X, d.V).fit()
    t_or, ll, H, cov = dense_hlm_fit(y, d.X, d.V)
    est = np.r_[res.alpha, res.beta]
    np.testing.assert_allclose(est, t_or, rtol=1e-6, atol=1e-7)
    assert res.loglik == pytest.approx(ll, rel=1e-10)
    np.testing.assert_allclose(res.cov_params(), cov, rtol=1e-5, atol=1e-12)
    # the expected information is near the observed one (numerical Hessian) at the MLE
    se_obs = np.sqrt(np.diag(np.linalg.inv(H)))
    np.testing.assert_allclose(res.bse, se_obs, rtol=0.15)
    t = interaction_tests(res, d)
    se = np.sqrt(np.diag(cov))
    assert t["int"][0] == pytest.approx(t_or[5], rel=1e-6)
    assert t["int_se"][0] == pytest.approx(se[5], rel=1e-5)
    z = t_or[5] / se[5]
    assert t["int_pval"] == pytest.approx(-np.log10(2 * stats.norm.sf(abs(z))), rel=1e-5)
    # joint test of g and g·E: 2 df with their covariance (not independent in the mean)
    S = cov[np.ix_([4, 5], [4, 5])]
    chi2 = t_or[[4, 5]] @ np.linalg.solve(S, t_or[[4, 5]])
    assert t["gxe_pval"] == pytest.approx(-np.log10(stats.chi2.sf(chi2, 2)), rel=1e-5)
    if gamma:
        assert t["int_pval"] > 10
        assert abs(t["int"][0] - gamma) < 4 * t["int_se"][0]


def test_interaction_var_and_robust_hc0():
    y, g, E, C, D = _data(0.2, 3, delta=0.3)
    d = interaction_design(g, E, covariates=C, interaction_var=True)
    assert d.V_names[-2:] == ["g", "g:E"] and d.vint == [len(d.V_names) - 1]
    res = HLM(y, d.X, d.V).fit(robust="hc0")
    t_or, _, _, _ = dense_hlm_fit(y, d.X, d.V)
    np.testing.assert_allclose(np.r_[res.alpha, res.beta], t_or, rtol=1e-6, atol=1e-7)
    cov = dense_sandwich_hc0(y, d.X, d.V, t_or)
    np.testing.assert_allclose(res.cov_params(), cov, rtol=1e-5, atol=1e-12)
    t = interaction_tests(res, d)
    p = d.X.shape[1]
    j = p + d.vint[0]
    assert t["vint"][0] == pytest.approx(t_or[j], rel=1e-6)
    assert t["vint_se"][0] == pytest.approx(np.sqrt(cov[j, j]), rel=1e-5)
    assert t["vint_pval"] > 3           # δ = 0.3 at n = 1500


def test_E_scale_and_wald():
    y, g, E, C, D = _data(0.2, 4)
    s = 2.5
    d1 = interaction_design(g, E, covariates=C)
    d2 = interaction_design(g, E / s, covariates=C)      # E in other units
    t1 = interaction_tests(HLM(y, d1.X, d1.V).fit(), d1)
    t2 = interaction_tests(HLM(y, d2.X, d2.V).fit(), d2, E_scale=[s])
    assert t2["int"][0] == pytest.approx(t1["int"][0], rel=1e-6)
    assert t2["int_pval"] == pytest.approx(t1["int_pval"], rel=1e-6)
    assert np.isnan(wald([1.0, 2.0], np.zeros((2, 2)), [0, 1])[0])
