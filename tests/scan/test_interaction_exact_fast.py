"""The compiled exact GxE fit (hlmm._core._gxe, the default engine of --interaction
without --robust or random effects) against HLM.fit on the full design (the kernel
directly) and against `--engine general` (the scan's tables)."""
import re

import numpy as np
import pytest

from clihelp import read_models, run, write_bed, write_table
from hlmm._core import _gxe
from hlmm.models.hlm import HLM
from hlmm.models.interaction import snp_columns

NUM = ("n", "freq", "likelihood", "add", "add_se", "add_t", "add_pval", "var", "var_se",
       "var_t", "var_pval")


def _data(rng, n, k=1, ivar=False, gamma=0.0, delta=0.0):
    C = rng.normal(size=(n, 2))
    E = rng.normal(size=(n, k))
    g = rng.binomial(2, 0.3, n).astype(float)
    x = g - g.mean()
    eta = 0.4 * E[:, 0] + 0.2 * C[:, 0] + delta * x * E[:, 0]
    y = (C @ [0.3, -0.2] + E.sum(axis=1) * 0.5 + 0.1 * x + gamma * x * E[:, 0]
         + np.exp(eta / 2) * rng.normal(size=n))
    X0 = np.column_stack([np.ones(n), C, E])
    V0 = np.column_stack([np.ones(n), C[:, :1], E])
    return y, X0, V0, x, E


@pytest.mark.parametrize("k,ivar,gamma,delta", [(1, False, 0.0, 0.0), (1, False, 0.3, 0.0),
                                                (2, False, 0.2, 0.0), (1, True, 0.2, 0.3),
                                                (2, True, 0.0, 0.0)])
def test_kernel_is_hlm_fit(rng, k, ivar, gamma, delta):
    y, X0, V0, x, E = _data(rng, 3000, k, ivar, gamma, delta)
    null = HLM(y, X0, V0).fit()
    d = snp_columns(x, E, X0, V0, ivar)
    ref = HLM(y, d.X, d.V).fit()            # from scratch: an independent Newton path
    p, q = d.X.shape[1], d.V.shape[1]
    theta = np.r_[null.alpha, np.zeros(p - X0.shape[1]), null.beta,
                  np.zeros(q - V0.shape[1])]
    XtWX = np.empty((p, p))
    status, f, it = _gxe.fit_snp(y, X0, V0, x, E, ivar, theta, XtWX)
    assert status == 0 and it < 10
    np.testing.assert_allclose(theta, np.r_[ref.alpha, ref.beta], rtol=1e-8, atol=1e-10)
    ll = -0.5 * (f + len(y) * np.log(2 * np.pi))
    assert ll == pytest.approx(ref.loglik, rel=1e-12)
    w = np.exp(-(d.V @ ref.beta))
    np.testing.assert_allclose(XtWX, (d.X * w[:, None]).T @ d.X, rtol=1e-10)


@pytest.mark.parametrize("k,ivar", [(1, False), (1, True), (2, True)])
def test_class_passes_equal_row_passes(rng, k, ivar):
    """Hard calls: the per-class Grams give the row passes' fit (E's columns anywhere
    in X0 and V0)."""
    y, X0, V0, x, E = _data(rng, 2500, k, ivar, 0.2, 0.2)
    X0 = np.column_stack([X0[:, :1], X0[:, 3:], X0[:, 1:3]])      # E before C
    V0 = np.column_stack([V0[:, :1], V0[:, 2:], V0[:, 1:2]])      # E before D
    g = x - x.min()
    codes = np.rint(g).astype(np.int8)
    x = codes - codes.mean()
    null = HLM(y, X0, V0).fit()
    p, q = X0.shape[1] + 1 + k, V0.shape[1] + 1 + (k if ivar else 0)
    th0 = np.r_[null.alpha, np.zeros(1 + k), null.beta, np.zeros(q - V0.shape[1])]
    out = []
    for kw in ({}, dict(codes=codes, xk=np.arange(3.0) - codes.mean(),
                        ecol=np.arange(1, 1 + k, dtype=np.int32),
                        vecol=np.arange(1, 1 + k, dtype=np.int32))):
        th, XtWX = th0.copy(), np.empty((p, p))
        status, f, it = _gxe.fit_snp(y, X0, V0, x, E, ivar, th, XtWX, **kw)
        assert status == 0
        out.append((th, f, XtWX))
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out[1][2], out[0][2], rtol=1e-11)
    assert out[1][1] == pytest.approx(out[0][1], rel=1e-13)
    d = snp_columns(x, E, X0, V0, ivar)
    ref = HLM(y, d.X, d.V).fit()
    np.testing.assert_allclose(out[1][0], np.r_[ref.alpha, ref.beta], rtol=1e-8, atol=1e-10)


def test_kernel_reports_failure(rng):
    """A start where the weights overflow ends with a failure status (which the scan
    sends to HLM.fit), never a plausible number."""
    y, X0, V0, x, E = _data(rng, 200)
    theta = np.zeros(X0.shape[1] + 2 + V0.shape[1] + 1)
    theta[0] = 1e3                           # weights overflow at the start
    theta[X0.shape[1] + 2] = -800.0
    status, f, it = _gxe.fit_snp(y, X0, V0, x, E, False, theta, np.empty((6, 6)))
    assert status != 0


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(31)
    d = tmp_path_factory.mktemp("gxefast")
    n, m = 1500, 8
    dos = rng.binomial(2, rng.uniform(0.1, 0.5, m), size=(n, m)).astype(float)
    dos[rng.random(n) < 0.05, 2] = np.nan            # missing calls
    dos[rng.random(n) < 0.01, 5] = np.nan
    E = 2.0 + 1.5 * rng.normal(size=n)
    c1 = rng.normal(size=n)
    site = rng.choice(["a", "b", "c"], size=n)
    x0 = dos[:, 0] - dos[:, 0].mean()
    x3 = dos[:, 3] - dos[:, 3].mean()
    Y = np.column_stack([0.3 * c1 + 0.2 * E + 0.4 * x0 * (E - 2.0)
                         + np.exp((0.4 * (E - 2.0) + 0.3 * x3 * (E - 2.0)) / 2)
                         * rng.normal(size=n) for _ in range(3)])
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    bed = write_bed(d / "geno", dos)
    pheno = write_table(d / "pheno.txt", ids, Y)
    covar = write_table(d / "covar.txt", ids, np.column_stack([c1, E]), header=["c1", "E"])
    with open(d / "cat.txt", "w") as fh:
        fh.write("FID IID c1 site\n")
        for (f, i), c, s in zip(ids, c1, site):
            fh.write(f"{f} {i} {float(c)!r} {s}\n")
    return {"bed": bed, "pheno": pheno, "covar": covar, "cat": str(d / "cat.txt"), "m": m}


def _scan(s, out, *extra):
    return run(["chr", s["bed"], 0, s["m"], s["pheno"], out, "--min-maf", "0",
                "--max-missing", "10", *extra])


def _same_tables(a, b, rtol=1e-6, atol=1e-9):
    h, ra = read_models(a)
    hb, rb = read_models(b)
    assert h == hb and len(ra) == len(rb)
    si = h.index("status")
    assert [r[si] for r in ra] == [r[si] for r in rb]
    assert all(r[si] == "ok" for r in ra)
    numeric = [j for j, c in enumerate(h) if c in NUM or j > si]
    A = np.array([[float(r[j]) for j in numeric] for r in ra])
    B = np.array([[float(r[j]) for j in numeric] for r in rb])
    np.testing.assert_allclose(A, B, rtol=rtol, atol=atol)
    return h, ra


@pytest.mark.parametrize("extra", [
    ["--mean-covar", "{covar}", "--interaction", "E"],
    ["--mean-covar", "{covar}", "--interaction", "E", "--interaction-var"],
    ["--mean-covar", "{covar}", "--var-covar", "{covar}", "--interaction", "E"],
    ["--mean-covar", "{cat}", "--cat-covar", "site", "--interaction", "site"],
])
def test_default_engine_equals_general(data, tmp_path, extra):
    extra = [a.format(**data) for a in extra]
    for ph in (1, 3):                                # many phenotypes: the last one too
        _scan(data, tmp_path / "d", *extra, "--phen-index", ph)
        _scan(data, tmp_path / "g", *extra, "--phen-index", ph, "--engine", "general")
        h, rows = _same_tables(f"{tmp_path / 'd'}.models.gz", f"{tmp_path / 'g'}.models.gz")
        log = open(f"{tmp_path / 'd'}.log").read()
        if "--interaction-var" in extra:
            # g·E in the variance: the per-SNP fit
            assert "compiled exact fit, per genotype class for hard calls" in log
        else:
            assert "exact MLE from weighted genotype-class moments" in log
            k = int(re.search(r"GxE: (\d+) SNP\(s\) beyond the class moments", log).group(1))
            assert k < data["m"]                     # some SNPs fitted from the moments
    n = [float(r[h.index("n")]) for r in rows]
    assert n[2] < max(n) and n[5] < max(n)           # the missing calls were dropped


def test_fallback_to_hlm_fit_counted(data, tmp_path, monkeypatch):
    """A SNP the class moments cannot fit goes to the compiled per-SNP fit, and one
    that does not converge there to HLM.fit (the general path's numbers): both counted
    in the log."""
    from hlmm.models import interaction_moments

    real_moments = interaction_moments.MomentFits.fit

    def beyond(self, *a, **kw):
        th, f, H, status = real_moments(self, *a, **kw)
        return th, f, H, np.full_like(status, 5)          # every SNP outside the bound

    monkeypatch.setattr(interaction_moments.MomentFits, "fit", beyond)
    real = _gxe.fit_snp
    calls = []

    def flaky(*args, **kw):
        calls.append(1)
        out = real(*args, **kw)
        return (3,) + tuple(out[1:]) if len(calls) % 2 else out   # every other SNP

    extra = ["--mean-covar", data["covar"], "--interaction", "E", "--threads", "1"]
    _scan(data, tmp_path / "g", *extra, "--engine", "general")
    monkeypatch.setattr(_gxe, "fit_snp", flaky)
    _scan(data, tmp_path / "d", *extra)
    _same_tables(f"{tmp_path / 'd'}.models.gz", f"{tmp_path / 'g'}.models.gz")
    n_fits = len(calls)
    assert n_fits == data["m"]
    log = open(f"{tmp_path / 'd'}.log").read()
    assert f"GxE: {(n_fits + 1) // 2} SNP(s) where the compiled exact fit did not" in log
    assert f"GxE: {n_fits} SNP(s) beyond the class moments' bound" in log


def test_many_phenotypes_in_one_run(data, tmp_path):
    """--all-pheno with --interaction: each phenotype's table is its own run's (each
    phenotype's moments from its own null model)."""
    extra = ["--mean-covar", data["covar"], "--interaction", "E"]
    _scan(data, tmp_path / "all", *extra, "--all-pheno")
    outs = sorted(tmp_path.glob("all.*.models.gz"))
    assert len(outs) == 3
    for ph, path in zip((1, 2, 3), outs):
        _scan(data, tmp_path / f"g{ph}", *extra, "--phen-index", ph, "--engine", "general")
        _same_tables(str(path), f"{tmp_path / f'g{ph}'}.models.gz")


def test_regenie_example_default_equals_general(tmp_path):
    """REGENIE's example files (plink-written .bed, its covariates): --interaction V1
    through the class moments equals HLM.fit per SNP, few SNPs left to the per-SNP fit."""
    from clihelp import REGENIE

    args = ["chr", f"{REGENIE}/example.bed", 0, 300, f"{REGENIE}/phenotype.txt", None,
            "--pheno-name", "Y1", "--mean-covar", f"{REGENIE}/covariates.txt",
            "--interaction", "V1"]
    for name, extra in (("d", []), ("g", ["--engine", "general"])):
        args[5] = tmp_path / name
        run(args + extra)
    # (to the last of the 6 printed digits: a p of 0.0108 is written 0.0108001)
    _same_tables(f"{tmp_path / 'd'}.models.gz", f"{tmp_path / 'g'}.models.gz", rtol=1e-5,
                 atol=2e-7)
    log = open(f"{tmp_path / 'd'}.log").read()
    k = int(re.search(r"GxE: (\d+) SNP\(s\) beyond the class moments", log).group(1))
    assert k < 30
