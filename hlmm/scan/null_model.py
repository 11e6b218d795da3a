"""The scan's null model: one phenotype's fit without the SNP, and what the SNP fits take
from it.

The null HLM ``y ~ N(Xα, exp(Vβ))`` is fitted once (in closed form when X = V = 1,
:mod:`hlmm.models.hlm_intercept`).  In the default mode (as the original) the SNP models
are then fitted to the standardised trait

    e_i = (y_i − x_iᵀα̂)/σ_i,   log σ_i = v_iᵀβ̂/2,   with X = V = 1,

whose density is that of y times ``Π σ_i``: a SNP model's log-likelihood on the trait's
own scale is ``ℓ(e) − Σ_called log σ_i`` (:meth:`NullModel.log_jacobian`).  With
``fit_covariates`` the covariates stay in every SNP's model and y is fitted itself.  With
random effects the null HLMM (intercept-only on e, or the covariates' model) gives the h2
that starts every SNP's fit.

Two checks of the phenotype are made here, because they are properties of the null
model's residuals: a binary trait (its variance p(1 − p) is fixed by its mean) and the
kurtosis κ of e, which scales the model-based variance test's χ² by about (κ − 1)/2
(:func:`hlmm.models.robust.standardised_kurtosis`).
"""
import sys
import time

import numpy as np

from ..errors import InputError
from ..io.phenotypes import binary_trait_warning
from ..models.hlm import HLM
from ..models.hlm_intercept import CLOSED_FORM, fit_intercept_only
from ..models.robust import standardised_kurtosis


class NullModel:
    """The null model of the phenotype of ``sample`` (a :class:`hlmm.io.sample.Sample`).

    Attributes: ``fit`` (:class:`~hlmm.models.results.FitResults` of the null HLM),
    ``mean_effects``/``var_effects`` (names, estimates, SEs on the covariates' own scale),
    ``y, X, V`` (what every SNP model is fitted to), ``log_sd`` (log σ_i of the default
    mode's standardisation: a scalar, an n-vector with variance covariates, None with
    ``fit_covariates``), ``h2`` ((h2, SE) of the null HLMM or None) and ``h2_start``,
    ``kurtosis``, ``kurtosis_warning`` ((κ, λ) or None), ``binary_warning``, ``se_kind``
    (the log's line on standard errors) and ``seconds``.
    """

    def __init__(self, sample, G, log, *, phenofile, label, multi, fit_covariates,
                 robust, robust_estimator, h2_init, no_h2_estimate):
        t0 = time.perf_counter()
        self.sample, self.log, self.label, self.multi = sample, log, label, multi
        s = sample
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                fit = (fit_intercept_only(s.y) if s.X.shape[1] == s.V.shape[1] == 1
                       else HLM(s.y, s.X, s.V).fit())
        except FloatingPointError:
            big = float(np.max(np.abs(s.y)))
            raise InputError(f"phenotype '{label}' of {phenofile}: its likelihood overflows "
                             f"(values up to {big:.3g}); rescale it, e.g. divide by "
                             f"1e{int(np.floor(np.log10(big)))}") from None
        except ValueError as exc:
            raise InputError(f"null model: {exc} (check --mean-covar/--var-covar)") from None
        if not fit.converged:
            raise InputError(f"the null model did not converge ({fit.message})")
        self.fit = fit
        self.mean_effects = s.own_scale("mean", fit.alpha, fit.alpha_cov)
        self.var_effects = s.own_scale("variance", fit.beta, fit.beta_cov)
        log(f"Null HLM: log-likelihood {float(fit.loglik)!r}, "
            + ("closed form (intercept-only mean and variance)" if fit.message == CLOSED_FORM
               else f"{fit.n_iter} Newton iterations"))
        for (names, est, se), kind in ((self.mean_effects, "mean"),
                                       (self.var_effects, "log-variance")):
            for nm, e, sd in zip(names, est, se):
                log(f"  null {kind} effect {nm}: {float(e)!r} (SE {float(sd)!r})")
        e = self.standardised()
        self.binary_warning = self._check_binary()
        self.kurtosis_warning = None
        self._check_kurtosis(e, robust, robust_estimator)
        self.log_sd = None
        if fit_covariates:
            self.y, self.X, self.V = np.ascontiguousarray(s.y), s.X, s.V
        else:
            self.y = np.ascontiguousarray(e)
            self.X = self.V = np.ones((s.n, 1))
            self.log_sd = (0.5 * float(fit.beta[0]) if s.V.shape[1] == 1
                           else 0.5 * (s.V @ fit.beta))
        self.h2_start = h2_init
        self.h2 = None
        if G is not None and not no_h2_estimate:
            from ..models.hlmm import HLMM

            res = HLMM(self.y, self.X, self.V, G).fit(h2_init=h2_init)
            if not res.converged:
                raise InputError(f"the null HLMM did not converge ({res.message})")
            self.h2 = (res.h2, res.h2_se)
            self.h2_start = max(res.h2, 1e-4)
            log(f"Null h2: {float(res.h2)!r} (SE {float(res.h2_se)!r}), "
                f"log-likelihood {float(res.loglik - self.log_jacobian(s.n))!r}")
        self.seconds = time.perf_counter() - t0

    def standardised(self):
        """The null model's standardised residuals ``(y − Xα̂)/exp(Vβ̂/2)`` (the scan's y in
        the default mode); with intercept-only designs from the scalars α̂, β̂ (without
        two n-vector products and n exponentials; equal up to rounding)."""
        s, fit = self.sample, self.fit
        if s.X.shape[1] == s.V.shape[1] == 1:
            return (s.y - fit.alpha[0]) / np.exp(0.5 * fit.beta[0])
        return (s.y - s.X @ fit.alpha) / np.exp(0.5 * (s.V @ fit.beta))

    def log_jacobian(self, n_l, missing=None):
        """``Σ log σ_i`` over the individuals of a model fitted to the standardised trait
        (0 with ``fit_covariates``): ``n_l`` analysed (an int or an array of counts), or
        with variance covariates all but those flagged in the boolean n-vector
        ``missing``."""
        ls = self.log_sd
        if ls is None:
            return 0.0
        if np.ndim(ls) == 0:
            return n_l * ls
        total = float(np.sum(ls))
        return total if missing is None else total - float(ls[missing].sum())

    def _check_binary(self):
        msg = binary_trait_warning(self.sample.y, f" '{self.label}'" if self.multi else "")
        if msg is None:
            return False
        self.log(msg)
        if not self.multi:      # a many-phenotype run prints one summary line
            print(f"hlmm: {msg}", file=sys.stderr)
        return True

    def _check_kurtosis(self, e, robust, robust_estimator):
        """Model-based variance tests assume normal residuals: with kurtosis κ of the
        null model's standardised residuals ``e`` their χ² is scaled by about (κ − 1)/2.
        Outside λ ∈ [0.9, 1.1] (κ ∈ [2.8, 3.2]), when the deviation is beyond sampling
        noise (3 SEs, SE(κ̂) ≈ √(24/n) under normality), warn."""
        log = self.log
        kappa = standardised_kurtosis(e)
        lam = (kappa - 1.0) / 2.0
        self.kurtosis = kappa
        log(f"Kurtosis of the null model's standardised residuals: {kappa:.4g} (normal: 3)")
        if robust:
            self.se_kind = (f"Standard errors: robust (sandwich, {robust_estimator} "
                            "moments; see hlmm.models.robust)")
            log(self.se_kind)
            return
        self.se_kind = "Standard errors: model-based (valid for normal residuals)"
        log(self.se_kind)
        if not 0.9 <= lam <= 1.1 and abs(kappa - 3.0) > 3.0 * np.sqrt(24.0 / self.sample.n):
            what = ("inflated" if lam > 1 else "deflated (power lost)")
            who = f" '{self.label}'" if self.multi else ""
            msg = (f"warning: the kurtosis of the phenotype{who}'s null-model residuals is "
                   f"{kappa:.3g} (3 for a normal trait): model-based variance tests are "
                   f"{what}, about λ = {lam:.2f}; use --robust for valid var p-values")
            log(msg)
            self.kurtosis_warning = (kappa, lam)
            if not self.multi:      # a many-phenotype run prints one summary line
                print(f"hlmm: {msg}", file=sys.stderr)
