"""Calibration of the variance tests on null SNPs, by trait shape and MAF band, and power.

    python bench/bench_calibration.py [--n 20000] [--per-band 600] [--hlmm-n 5000]
                                      [--hlmm-snps 300] [--seed 1] [--skip-hlmm]

Null data: genotypes independent of the trait.  For each trait shape (normal, t(5),
χ²(4), lognormal(0, 0.6), bimodal, and a normal trait whose variance depends on a
covariate passed as --var-covar) runs `hlmm chr` with model-based SEs, with `--robust`
(pooled moments, the default, and `--robust-estimator hc0`), and `--brown-forsythe`,
and prints per MAF band λ = median(χ²)/0.4549 and the ratio of the rate of p < 1e-2 and
p < 1e-3 to nominal.  Then the HLMM (`--random-gts`, smaller n) on the same shapes, and
power at a true variance effect on a normal and a t(5) trait.  Goals (issue #11):
`--robust` λ ∈ [0.95, 1.05] at MAF ≥ 0.02 for every shape, tail rates within 1.5×
nominal; on normal traits ≥ 95 % of the model-based power.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from clihelp import column, read_models, write_bed, write_table  # noqa: E402

BANDS = [(0.01, 0.02), (0.02, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 0.5)]
CHI2_1_MEDIAN = 0.454936423119572


def trait(shape, n, rng):
    """A standardised trait of the given shape (and the variance covariate, or None)."""
    c = None
    if shape == "normal":
        y = rng.standard_normal(n)
    elif shape == "t5":
        y = rng.standard_t(5, n)
    elif shape == "chi2_4":
        y = rng.chisquare(4, n)
    elif shape == "lognormal":
        y = rng.lognormal(0.0, 0.6, n)
    elif shape == "bimodal":
        y = 0.5 * rng.standard_normal(n) + rng.choice([-1.5, 1.5], n)
    elif shape == "var_covariate":
        c = rng.standard_normal(n)
        y = np.exp(0.5 * 0.5 * c) * rng.standard_normal(n)
    else:
        raise ValueError(shape)
    return (y - y.mean()) / y.std(), c


SHAPES = ("normal", "t5", "chi2_4", "lognormal", "bimodal", "var_covariate")


def band_files(d, n, per_band, seed, label):
    """One .bed per MAF band, streamed by `hlmm simulate genotypes` (memory n × 256 B)."""
    files = []
    for b, (lo, hi) in enumerate(BANDS):
        prefix = os.path.join(d, f"g_{label}_{b}")
        subprocess.run([sys.executable, "-m", "hlmm.cli.main", "simulate", "genotypes", prefix,
                        "--n", str(n), "--snps", str(per_band), "--maf-min", str(lo),
                        "--maf-max", str(hi), "--seed", str(seed + b)], check=True,
                       capture_output=True)
        files.append(prefix + ".bed")
    return files


def hlmm_chr(args):
    cmd = [sys.executable, "-m", "hlmm.cli.main", "chr", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return proc.stderr


def neglog10p(prefix, col):
    h, rows = read_models(prefix + ".models.gz")
    return column(h, rows, col) if col in h else None


def summary_row(p):
    """λ and tail-rate ratios from −log10 p of a 1-df (or F) test."""
    from scipy import stats

    p = p[np.isfinite(p)]
    pv = 10.0 ** -p
    lam = np.median(stats.chi2.isf(pv, 1)) / CHI2_1_MEDIAN
    return lam, np.mean(pv < 1e-2) / 1e-2, np.mean(pv < 1e-3) / 1e-3, p.size


def run_null(d, n, files, rng, extra_common, label, methods, shapes=SHAPES):
    ids = [(f"per{i}", f"per{i}") for i in range(n)]
    rows = []
    kurt = {}
    for shape in shapes:
        y, c = trait(shape, n, rng)
        pheno = write_table(os.path.join(d, f"p_{label}_{shape}.txt"), ids, y[:, None])
        extra = list(extra_common)
        if c is not None:
            extra += ["--var-covar", write_table(os.path.join(d, f"c_{label}.txt"), ids,
                                                 c[:, None])]
        for method, opts, col in methods:
            for b, bed in enumerate(files):
                prefix = os.path.join(d, f"o_{label}_{shape}_{method}_{b}")
                hlmm_chr([bed, 0, 0, pheno, prefix, "--whole-chr", "--min-maf", "0.005",
                          *opts, *extra])
                p = neglog10p(prefix, col)
                if p is None:
                    continue
                if method == "model" and b == 0:
                    with open(prefix + ".log") as fh:
                        for line in fh:
                            if line.startswith("Kurtosis"):
                                kurt[shape] = float(line.split(":")[1].split()[0])
                lo, hi = BANDS[b]
                rows.append((shape, method, f"{lo}-{hi}") + summary_row(p))
    return rows, kurt


def power(d, n, rng, extra_common, label, methods, effect=0.06, snps=100):
    """Power at p < 1e-3: SNPs with MAF 0.2–0.5 and a log-variance effect ``effect``
    per allele, on a normal and a t(5) trait.  Each phenotype carries the effects of a
    batch of 20 SNPs (each SNP's effect is tested with the others' as extra noise)."""
    f = rng.uniform(0.2, 0.5, snps)
    G = rng.binomial(2, f, size=(n, snps)).astype(np.float32)
    bed = write_bed(os.path.join(d, f"pw_{label}"), G)
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    rows = []
    for shape in ("normal", "t5"):
        hits = {}
        for b in range(0, snps, 20):
            e, _ = trait(shape, n, rng)
            x = G[:, b:b + 20].astype(float)
            x -= x.mean(0)
            logv = effect * x.sum(1)
            y = np.exp(0.5 * logv) * e
            pheno = write_table(os.path.join(d, f"pw_{label}_{shape}_{b}.txt"), ids, y[:, None])
            for method, opts, col in methods:
                prefix = os.path.join(d, f"pw_{label}_{shape}_{method}_{b}")
                hlmm_chr([bed, b, b + 20, pheno, prefix, *opts, *extra_common])
                p = neglog10p(prefix, col)
                if p is not None:
                    hits.setdefault(method, []).extend(list(p))
        for method, p in hits.items():
            p = np.asarray(p)
            rows.append((shape, method, float(np.mean(p > 3.0)), p.size))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--per-band", type=int, default=4000, help="null SNPs per MAF band (HLM)")
    ap.add_argument("--hlmm-n", type=int, default=5000)
    ap.add_argument("--hlmm-per-band", type=int, default=400)
    ap.add_argument("--hlmm-l", type=int, default=100)
    ap.add_argument("--power-snps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-hlmm", action="store_true")
    ap.add_argument("--skip-power", action="store_true")
    ap.add_argument("--skip-null", action="store_true", help="skip the HLM null SNPs")
    ap.add_argument("--shapes", default=",".join(SHAPES), help="comma list of trait shapes")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    shapes = tuple(a.shapes.split(","))
    methods = [("model", [], "var_pval"), ("robust", ["--robust"], "var_pval"),
               ("robust_hc0", ["--robust", "--robust-estimator", "hc0"], "var_pval"),
               ("bf", ["--brown-forsythe"], "bf_pval")]
    with tempfile.TemporaryDirectory() as d:
        if not a.skip_null:
            print(f"HLM, n = {a.n}, {a.per_band} null SNPs per MAF band", flush=True)
            files = band_files(d, a.n, a.per_band, 100 * a.seed, "hlm")
            rows, kurt = run_null(d, a.n, files, rng, [], "hlm", methods, shapes)
            _print(rows, kurt)
        if not a.skip_power:
            print(f"\nPower at p < 1e-3, HLM, n = {a.n}, log-variance effect 0.06 per allele, "
                  "MAF 0.2-0.5", flush=True)
            print("trait\tmethod\tpower\tSNPs")
            for shape, method, pw, k in power(d, a.n, rng, [], "hlm", methods,
                                              snps=a.power_snps):
                print(f"{shape}\t{method}\t{pw:.3f}\t{k}", flush=True)
        if not a.skip_hlmm:
            n = a.hlmm_n
            R = rng.binomial(2, rng.uniform(0.05, 0.5, a.hlmm_l), size=(n, a.hlmm_l))
            rbed = write_bed(os.path.join(d, "random"), R.astype(np.float32),
                             fid=[f"per{i}" for i in range(n)], iid=[f"per{i}" for i in range(n)])
            print(f"\nHLMM, n = {n}, l = {a.hlmm_l}, {a.hlmm_per_band} null SNPs per MAF band",
                  flush=True)
            files = band_files(d, n, a.hlmm_per_band, 100 * a.seed + 50, "hlmm")
            rows, kurt = run_null(d, n, files, rng, ["--random-gts", rbed], "hlmm",
                                  methods[:2], shapes)
            _print(rows, kurt)


def _print(rows, kurt):
    print("trait\tkurtosis\tmethod\tMAF\tlambda\tp<1e-2 /nominal\tp<1e-3 /nominal\tSNPs")
    for shape, method, band, lam, r2, r3, k in rows:
        print(f"{shape}\t{kurt.get(shape, float('nan')):.2f}\t{method}\t{band}\t{lam:.3f}\t"
              f"{r2:.2f}\t{r3:.2f}\t{k}", flush=True)


if __name__ == "__main__":
    main()
