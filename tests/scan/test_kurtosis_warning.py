"""The null model's kurtosis warning (issue #27): its threshold from both sides, its
sampling-noise guard, and its wording for heavy- and flat-tailed traits.

Model-based variance tests assume normal residuals; with kurtosis κ their χ² is scaled by
about λ = (κ − 1)/2.  hlmm warns when λ is outside [0.9, 1.1] (κ outside [2.8, 3.2]) and
κ is more than 3 SEs (√(24/n) each) from 3.  The residuals below are a symmetric
three-point distribution (0 and ±a, k of n nonzero) whose sample kurtosis is exactly n/k,
so κ can be put on either side of each limit.
"""
import re
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from clihelp import run, write_bed, write_table
from hlmm.scan.null_model import NullModel


def _three_point(n, k):
    """n residuals, k of them ±1 (alternating), the rest 0: kurtosis exactly n/k (k even:
    mean 0)."""
    assert k % 2 == 0
    e = np.zeros(n)
    e[:k] = np.where(np.arange(k) % 2 == 0, 1.0, -1.0)
    return e


def _check(e, robust=False, multi=False):
    """NullModel._check_kurtosis on residuals e; returns (warning, log lines)."""
    lines = []
    nm = object.__new__(NullModel)
    nm.log, nm.label, nm.multi = lines.append, "y", multi
    nm.sample = SimpleNamespace(n=e.size)
    nm.kurtosis_warning = None        # (as NullModel.__init__ sets it)
    nm._check_kurtosis(e, robust, "pooled")
    assert nm.kurtosis == pytest.approx(stats.kurtosis(e, fisher=False), rel=1e-12)
    return nm.kurtosis_warning, lines


@pytest.mark.parametrize("n, k, warned, direction", [
    (10000, 3116, True, "inflated"),       # κ = 3.2092, λ = 1.105: above the band
    (10000, 3136, False, None),            # κ = 3.1888, λ = 1.094: inside
    (10000, 3560, False, None),            # κ = 2.8090, λ = 0.905: inside
    (10000, 3584, True, "deflated (power lost)"),     # κ = 2.7902, λ = 0.895: below
])
def test_threshold_from_both_sides(n, k, warned, direction, capsys):
    kappa = n / k
    assert abs(kappa - 3) > 3 * np.sqrt(24 / n)          # the noise guard is not binding
    warning, lines = _check(_three_point(n, k))
    err = capsys.readouterr().err
    if not warned:
        assert warning is None and "warning" not in " ".join(lines) and err == ""
        return
    assert warning == pytest.approx((kappa, (kappa - 1) / 2), rel=1e-12)
    msg = next(ln for ln in lines if ln.startswith("warning: the kurtosis"))
    assert msg == (f"warning: the kurtosis of the phenotype's null-model residuals is "
                   f"{kappa:.3g} (3 for a normal trait): model-based variance tests are "
                   f"{direction}, about λ = {(kappa - 1) / 2:.2f}; use --robust for valid "
                   "var p-values")
    assert err.strip() == f"hlmm: {msg}"


def test_noise_guard_from_both_sides():
    """κ = 3.5 is outside the band; it warns only when 0.5 is beyond 3 SEs of κ̂."""
    quiet, _ = _check(_three_point(700, 200))          # 3 SEs = 0.556 at n = 700
    assert quiet is None
    loud, _ = _check(_three_point(1400, 400))          # 3 SEs = 0.393 at n = 1400
    assert loud == pytest.approx((3.5, 1.25))
    low_quiet, _ = _check(_three_point(600, 240))      # κ = 2.5: 3 SEs = 0.6
    assert low_quiet is None
    low_loud, _ = _check(_three_point(1000, 400))      # κ = 2.5: 3 SEs = 0.465
    assert low_loud == pytest.approx((2.5, 0.75))


def test_no_warning_with_robust_ses_and_one_line_for_many_phenotypes(capsys):
    warning, lines = _check(_three_point(10000, 2000), robust=True)     # κ = 5
    assert warning is None and not any("warning" in ln for ln in lines)
    warning, lines = _check(_three_point(10000, 2000), multi=True)
    assert warning == pytest.approx((5.0, 2.0))
    assert any("phenotype 'y''s null-model residuals is 5 " in ln for ln in lines)
    assert capsys.readouterr().err == ""     # the many-phenotype run prints its summary


@pytest.fixture(scope="module")
def traits(tmp_path_factory):
    d = tmp_path_factory.mktemp("kurt")
    rng = np.random.default_rng(2704)
    n = 4000
    bed = write_bed(d / "g", rng.binomial(2, 0.3, (n, 3)).astype(float))
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    # a normal scale mixture: variance 3 with probability 0.1, else 1 (kurtosis 3.75)
    heavy = rng.standard_normal(n) * np.sqrt(np.where(rng.random(n) < 0.1, 3.0, 1.0))
    flat = rng.uniform(-1, 1, n)                                       # kurtosis 1.8
    normal = rng.standard_normal(n)
    return {"bed": bed, "dir": d,
            **{k: (write_table(d / f"{k}.txt", ids, v[:, None]), v)
               for k, v in (("heavy", heavy), ("flat", flat), ("normal", normal))}}


@pytest.mark.parametrize("trait, direction", [("heavy", "inflated"),
                                              ("flat", "deflated (power lost)"),
                                              ("normal", None)])
def test_scan_warns_with_the_direction(traits, tmp_path, trait, direction):
    path, y = traits[trait]
    res = run(["chr", traits["bed"], path, tmp_path / "o", "--whole-chr"])
    log = (tmp_path / "o.log").read_text()
    # the intercept-only null model's residuals are y centred and scaled: their kurtosis
    # is the sample kurtosis of y
    kappa = stats.kurtosis(y, fisher=False)
    assert f"standardised residuals: {kappa:.4g} (normal: 3)" in log
    warned = [ln for ln in res.output.splitlines() if "kurtosis" in ln]
    if direction is None:
        assert abs(kappa - 3) < 0.2 and warned == [] and "warning: the kurtosis" not in log
        return
    assert len(warned) == 1
    m = re.search(r"residuals is ([0-9.]+) \(3 for a normal trait\): model-based variance "
                  r"tests are (.+), about λ = ([0-9.]+); use --robust", warned[0])
    assert m, warned[0]
    assert float(m.group(1)) == pytest.approx(kappa, abs=0.006)
    assert m.group(2) == direction
    assert float(m.group(3)) == pytest.approx((kappa - 1) / 2, abs=0.006)
    assert (kappa > 3.5) if trait == "heavy" else (kappa < 2)
    assert warned[0].removeprefix("hlmm: ") in log
