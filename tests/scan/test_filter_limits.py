"""SNPs exactly at the filters' limits (issue #27), in every engine.

A SNP is fitted when its missing-call percentage is *below* ``--max-missing``, its MAF
*above* ``--min-maf``, its minor allele count *at least* ``--mac`` and its Hardy–Weinberg
p *at least* ``--hwe`` (hlmm.scan.snp_filters).  Each SNP of the data below sits on one
side of one limit, at n = 80 analysed individuals, so a ``<`` turned into ``<=`` (or a
``>`` into ``>=``) in any engine changes one SNP's status.  The expected statuses come
from an oracle in exact rational arithmetic (Fraction), not from hlmm's code, and the
log's and the terminal's counts are checked against them.
"""
from fractions import Fraction
from math import comb, factorial

import numpy as np
import pytest

from clihelp import read_models, run, write_bed, write_pgen, write_table

N = 80


def _snp(rng, hom0, het, hom2, missing=0):
    """A SNP with exactly these genotype counts (and ``missing`` missing calls), shuffled."""
    g = np.array([0.0] * hom0 + [1.0] * het + [2.0] * hom2 + [np.nan] * missing)
    assert g.size == N
    return rng.permutation(g)


# name: (hom0, het, hom2, missing).  The named limits are those of the options below.
DESIGN = {
    "miss_at": (36, 28, 6, 10),      # 10/80 = 12.5 % missing: at --max-missing 12.5
    "miss_below": (37, 28, 6, 9),    # 11.25 %
    "maf_at": (60, 20, 0, 0),        # MAF 20/160 = 0.125: at --min-maf 0.125; MAC 20
    "maf_above": (59, 21, 0, 0),     # 0.13125
    "mac_below": (61, 19, 0, 0),     # MAC 19 (MAF 0.11875)
    "mono": (80, 0, 0, 0),           # MAF 0: filtered even at --min-maf 0, never "failed"
    "hwe_at": (44, 12, 24, 0),       # too few hets: its own p is the --hwe limit
    "hwe_below": (46, 8, 26, 0),     # fewer still
    "plain1": (29, 40, 11, 0),
    "plain2": (40, 34, 6, 0),
}
NAMES = list(DESIGN)


def _hwe_exact(het, hom1, hom2):
    """The HWE exact test p in exact arithmetic: P(het | allele counts) of every het count
    no more likely than the one observed (Wigginton et al. 2005)."""
    n = het + hom1 + hom2
    n_a = 2 * hom1 + het
    probs = {}
    for ab in range(n_a % 2, min(n_a, 2 * n - n_a) + 1, 2):
        aa = (n_a - ab) // 2
        bb = n - aa - ab
        if aa < 0 or bb < 0:
            continue
        probs[ab] = Fraction(factorial(n) * 2 ** ab,
                             factorial(aa) * factorial(ab) * factorial(bb)) / comb(2 * n, n_a)
    return sum(p for p in probs.values() if p <= probs[het])


def _hard_counts(v):
    """Hard calls (within 0.1 of 0, 1, 2: plink2's --hard-call-threshold) of one SNP."""
    v = v[~np.isnan(v)]
    return [int(np.sum(np.abs(v - k) <= 0.1)) for k in range(3)]


def expected(G, max_missing, min_maf, mac=None, hwe=None):
    """Oracle: each SNP's status, in exact arithmetic (dosages are multiples of 1/2)."""
    out = []
    for j in range(G.shape[1]):
        v = G[:, j]
        called = ~np.isnan(v)
        n_l = int(called.sum())
        if not Fraction(100) * Fraction(N - n_l, N) < Fraction(max_missing):
            out.append("filtered_missing")
            continue
        total = sum(Fraction(x).limit_denominator(16384) for x in v[called])
        f = total / (2 * n_l)
        maf = min(f, 1 - f)
        if not maf > Fraction(min_maf):
            out.append("filtered_maf")
        elif mac is not None and not 2 * n_l * maf >= Fraction(mac):
            out.append("filtered_mac")
        elif hwe is not None and _hwe_exact(*np.array(_hard_counts(v))[[1, 0, 2]]) < \
                Fraction(hwe):
            out.append("filtered_hwe")
        else:
            out.append("ok")
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("limits")
    rng = np.random.default_rng(27)
    G = np.column_stack([_snp(rng, *DESIGN[k]) for k in NAMES])
    # dosages with the same sums: in every SNP but "mono" two hets (or a 0 and a 2) become
    # 0.5 and 1.5 (not hard calls), so the dosage engines read them; "maf_at" and
    # "mac_below" keep at most 25 % non-modal values (the HLMM's carriers engine), the
    # others more (its general path)
    D = G.copy()
    for j, k in enumerate(NAMES):
        if k == "mono":
            continue
        het = np.flatnonzero(G[:, j] == 1)
        pair = het[:2] if het.size >= 2 else [np.flatnonzero(G[:, j] == 0)[0],
                                              np.flatnonzero(G[:, j] == 2)[0]]
        D[pair, j] = [0.5, 1.5]
    ids = [(f"f{i}", f"i{i}") for i in range(N)]
    y = rng.standard_normal((N, 2))
    y[:, 0] += 0.3 * np.nan_to_num(G[:, -1])
    fam_ids = ([f for f, _ in ids], [i for _, i in ids])
    return {
        "G": G, "D": D, "dir": d,
        "bed": write_bed(d / "g", G, *fam_ids),
        "pgen": write_pgen(d / "dos", D, ids, dosages=True),
        "pheno": write_table(d / "y.txt", ids, y[:, :1]),
        "pheno2": write_table(d / "y2.txt", ids, y, header=["A", "B"]),
        "covar": write_table(d / "c.txt", ids, rng.standard_normal((N, 1))),
        "rbed": write_bed(d / "r", rng.binomial(2, 0.3, (N, 40)).astype(float), *fam_ids),
    }


def _hwe_limit(v):
    """The --hwe limit of SNP values v: its own p as hlmm computes it."""
    from hlmm.scan.snp_filters import class_counts, hwe_exact_p

    c = class_counts(v)
    return hwe_exact_p(c[1], c[0], c[2])


ENGINES = {
    "classes": [],
    "general": ["--engine", "general"],
    "fit_covariates": ["--fit-covariates", "--mean-covar", "covar"],
    "robust": ["--robust"],
    "hlmm_classes": ["--random-gts", "rbed"],
    "hlmm_general": ["--random-gts", "rbed", "--engine", "general"],
    "multi": ["--all-pheno"],
    "multi_hlmm": ["--all-pheno", "--random-gts", "rbed"],
    "dosage": ["pgen"],
    "dosage_hlmm": ["pgen", "--random-gts", "rbed"],
    "dosage_general": ["pgen", "--engine", "general"],
}
ENGINE_LINE = {"classes": "classes", "robust": "classes", "multi": "classes",
               "dosage": "classes", "hlmm_classes": "classes_hlmm",
               "multi_hlmm": "classes_hlmm", "dosage_hlmm": "classes_hlmm",
               "fit_covariates": "moments"}


def _log_counts(line):
    """The counts of a log line 'SNPs: W written; K fitted, a filtered on …, f failed'."""
    words = line.split("SNPs: ", 1)[1]
    out = {"written": int(words.split(" written")[0]),
           "ok": int(words.split(" fitted")[0].rsplit(" ", 1)[1]),
           "failed": int(words.split(" failed")[0].rsplit(" ", 1)[1])}
    for key, what in (("filtered_missing", "missingness"), ("filtered_maf", "MAF"),
                      ("filtered_mac", "minor allele count"),
                      ("filtered_hwe", "Hardy-Weinberg")):
        part = words.split(f" filtered on {what}")
        out[key] = int(part[0].rsplit(" ", 1)[1]) if len(part) > 1 else 0
    return out


def _scan(data, tmp_path, engine, flags, monkeypatch):
    args = ENGINES[engine]
    geno = data["pgen"] if args[:1] == ["pgen"] else data["bed"]
    args = [data.get(a, a) if a in ("rbed", "covar") else a for a in args if a != "pgen"]
    pheno = data["pheno2"] if "--all-pheno" in args else data["pheno"]
    calls = {"dosage": 0}
    if geno == data["pgen"]:
        # the dosage engines must be the ones that ran (not a hard-call path)
        # (the HLMM reads each dosage SNP's values, GenomeScan._analysis, for its
        # carriers engine or its general path)
        from hlmm.scan import dosage_engine, genome_scan

        for cls, name in ((dosage_engine.DosageClassScan, "fit_block"),
                          (genome_scan.GenomeScan, "_analysis")):
            def spy(self, *a, _real=getattr(cls, name), **k):
                calls["dosage"] += 1
                return _real(self, *a, **k)

            monkeypatch.setattr(cls, name, spy)
    out = tmp_path / "o"
    res = run(["chr", geno, pheno, out, "--whole-chr", "--threads", "1", *flags, *args])
    log = (tmp_path / "o.log").read_text()
    assert f"Engine: {ENGINE_LINE.get(engine, 'general')}" in log
    if geno == data["pgen"]:
        assert calls["dosage"] > 0
    labels = ["A", "B"] if "--all-pheno" in args else [None]
    tables = {}
    for label in labels:
        path = tmp_path / (f"o.{label}.models.gz" if label else "o.models.gz")
        h, rows = read_models(path)
        tables[label] = ([r[h.index("status")] for r in rows],
                         [r[h.index("add")] for r in rows])
    lines = [ln for ln in log.splitlines() if "SNPs: " in ln and " written;" in ln]
    assert len(lines) == len(labels)
    return res, tables, [_log_counts(ln) for ln in lines]


def _check(data, tmp_path, engine, flags, want, monkeypatch):
    res, tables, counts = _scan(data, tmp_path, engine, flags, monkeypatch)
    for status, add in tables.values():
        assert dict(zip(NAMES, status)) == dict(zip(NAMES, want))
        # fitted rows have estimates, filtered rows none
        assert [a not in ("NA", "nan") for a in add] == [w == "ok" for w in want]
    n_ok = want.count("ok")
    n_filtered = len(want) - n_ok
    for c in counts:
        assert c == {"written": len(want), "ok": n_ok, "failed": 0,
                     **{k: want.count(k) for k in ("filtered_missing", "filtered_maf",
                                                   "filtered_mac", "filtered_hwe")}}
    assert res.output.count(f"{len(want)} SNPs written to ") == len(tables)
    assert res.output.count(f": {n_ok} fitted, {n_filtered} filtered, 0 failed") == len(tables)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_missingness_and_maf_exactly_at_the_limit(data, tmp_path, engine, monkeypatch):
    G = data["D"] if ENGINES[engine][:1] == ["pgen"] else data["G"]
    want = expected(G, 12.5, 0.125)
    assert [want[NAMES.index(k)] for k in ("miss_at", "miss_below", "maf_at", "maf_above",
                                           "mono")] == \
        ["filtered_missing", "ok", "filtered_maf", "ok", "filtered_maf"]
    _check(data, tmp_path, engine, ["--max-missing", "12.5", "--min-maf", "0.125"], want,
           monkeypatch)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_mac_and_hwe_exactly_at_the_limit(data, tmp_path, engine, monkeypatch):
    G = data["D"] if ENGINES[engine][:1] == ["pgen"] else data["G"]
    hwe = _hwe_limit(G[:, NAMES.index("hwe_at")])
    assert hwe == pytest.approx(
        float(_hwe_exact(*np.array(_hard_counts(G[:, NAMES.index("hwe_at")]))[[1, 0, 2]])),
        rel=1e-9)
    # the oracle at the limit hlmm computed (ties to it exactly: the SNP is kept)
    want = expected(G, 100, 0, mac=20, hwe=hwe)
    want[NAMES.index("hwe_at")] = "ok"
    assert [want[NAMES.index(k)] for k in ("maf_at", "mac_below", "hwe_at", "hwe_below",
                                           "mono")] == \
        ["ok", "filtered_mac", "ok", "filtered_hwe", "filtered_maf"]
    _check(data, tmp_path, engine, ["--max-missing", "100", "--min-maf", "0", "--mac", "20",
                                    "--hwe", repr(hwe)], want, monkeypatch)


def test_plink_aliases_at_the_limit(data, tmp_path, monkeypatch):
    """--geno 0.125 is --max-missing 12.5 and --maf is --min-maf, at the limit too."""
    want = expected(data["G"], 12.5, 0.125)
    _check(data, tmp_path, "classes", ["--geno", "0.125", "--maf", "0.125"], want,
           monkeypatch)


def test_monomorphic_snp_is_filtered_not_failed(data, tmp_path, monkeypatch):
    """At --min-maf 0 a monomorphic SNP is still filtered (MAF 0 is not above 0), not
    fitted and counted as failed."""
    for engine in ("classes", "general", "hlmm_classes", "dosage"):
        (tmp_path / engine).mkdir()
        _, tables, counts = _scan(data, tmp_path / engine, engine,
                                  ["--max-missing", "100", "--min-maf", "0"], monkeypatch)
        assert dict(zip(NAMES, tables[None][0]))["mono"] == "filtered_maf"
        assert counts[0]["failed"] == 0 and counts[0]["filtered_maf"] == 1


def test_filter_codes_at_each_limit():
    """The filter function itself, each comparison from both sides."""
    from types import SimpleNamespace

    from hlmm.scan.snp_filters import HWE, MAC, MAF, MISSING, OK, filter_codes

    cfg = SimpleNamespace(max_missing=12.5, min_maf=0.125, mac=None, hwe=None)
    _, code = filter_codes(cfg, 80, [70, 71, 80, 80, 80, 80],
                           [0.3, 0.3, 0.125, 0.875, 0.13125, 0.0])
    assert code.tolist() == [MISSING, OK, MAF, MAF, OK, MAF]
    cfg = SimpleNamespace(max_missing=100, min_maf=0, mac=20, hwe=0.01)
    counts = {0: [60, 20, 0], 1: [61, 19, 0], 2: [44, 12, 24]}
    from hlmm.scan.snp_filters import hwe_exact_p
    cfg.hwe = hwe_exact_p(12, 44, 24)
    freq, code = filter_codes(cfg, 80, [80, 80, 80], [0.125, 19 / 160, 60 / 160],
                              lambda j: [counts[k] for k in j])
    assert code.tolist() == [OK, MAC, OK]
    cfg.hwe = np.nextafter(cfg.hwe, 1.0)
    _, code = filter_codes(cfg, 80, [80, 80, 80], [0.125, 19 / 160, 60 / 160],
                           lambda j: [counts[k] for k in j])
    assert code.tolist() == [OK, MAC, HWE]
    # a minor allele count at the limit whose frequency's product rounds below it:
    # 2·71·(28/142) is 27.999999999999996 in floating point, and still 28 hard calls
    cfg = SimpleNamespace(max_missing=100, min_maf=0, mac=28, hwe=None)
    assert 2.0 * 71 * (28 / 142) < 28
    _, code = filter_codes(cfg, 80, [71, 71], [28 / 142, 27 / 142])
    assert code.tolist() == [OK, MAC]
    # the frequency returned is folded; NaN when the missingness filter fails
    cfg = SimpleNamespace(max_missing=12.5, min_maf=0.0, mac=None, hwe=None)
    freq, _ = filter_codes(cfg, 80, [70, 80], [0.3, 0.9])
    assert np.isnan(freq[0]) and freq[1] == pytest.approx(0.1)


@pytest.mark.parametrize("geno", ["bed", "pgen"])
def test_mind_exactly_at_the_limit(data, tmp_path, geno):
    """--mind F keeps an individual whose missing-call rate is exactly F (plink2 removes
    rates above it): at --mind 0.1 over these 10 SNPs one missing call is kept, two are
    not."""
    G = data["D"] if geno == "pgen" else data["G"]
    missing = np.isnan(G).sum(axis=1)
    rate = [Fraction(int(k), G.shape[1]) for k in missing]
    removed = sum(r > Fraction(1, 10) for r in rate)
    assert 0 < removed < sum(r == Fraction(1, 10) for r in rate) + removed
    run(["chr", data[geno], data["pheno"], tmp_path / "o", "--whole-chr", "--mind", "0.1",
         "--min-maf", "0", "--max-missing", "100"])
    log = (tmp_path / "o.log").read_text()
    assert (f"--mind 0.1: {removed} individual(s) with more than 10 % missing calls over "
            f"the 10 test SNPs removed; {N - removed} left") in log
    assert f"analysed: {N - removed} " in log
