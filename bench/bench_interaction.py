"""GxE (`hlmm chr --interaction`): calibration, power and speed.

    python bench/bench_interaction.py [--n 20000] [--null-snps 2000] [--replicates 3]
                                      [--power-snps 300]
                                      [--speed-snps 4000] [--repeat 3] [--seed 1]
                                      [--skip-calibration] [--skip-speed] [--quick]

Calibration: null SNPs (independent of the trait), two covariates, E ~ N(0, 1) acting
on the mean (0.5·E) and on the log-variance (0.6·E).  λ = median(χ²)/0.4549 of
`int_pval`, and the rate of p < 1e-2, 1e-3, for the HLM (model-based SEs on a normal
trait; model-based and `--robust` on a t(5) trait) and, for contrast, the ordinary
least-squares interaction test on the same data (y ~ 1 + C + E + g + g·E, t test of
g·E).  Goals (issue #23): HLM λ within [0.95, 1.05]; with `--robust` also on t(5).
The SNPs of one dataset share its trait, so its λ varies from dataset to dataset
(±0.05 at these sizes) beyond the median's sampling error: --replicates pools several.

Power: SNPs with a true g·E effect γ (the same trait model): the fraction with
p < 1e-4 for the HLM and for OLS (whose rate is not a fair power at its inflated λ).

Speed (W9): n × speed-snps, two covariates: wall time of the scan with `--interaction E`
(the exact default, weighted genotype-class moments, hlmm.scan.moment_engine;
`--engine general`, HLM.fit per SNP; `--robust`, the compiled or HLM.fit fit per SNP)
against the same scan without it (default mode, and --fit-covariates), medians of
--repeat runs, one thread.  Goal: ≤ 3× the scan without it.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)
from clihelp import column, read_models, write_bed, write_table  # noqa: E402

CHI2_1_MEDIAN = 0.454936423119572


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = os.path.abspath(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def hlmm_chr(args):
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "hlmm.cli.main", "chr", *map(str, args)],
                       capture_output=True, text=True, env=env())
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-3000:] + p.stderr[-3000:])
        raise RuntimeError("hlmm chr failed")
    return time.perf_counter() - t0


def make_data(d, n, m, seed, gamma=0.0, shape="normal", label="x"):
    """A .bed of m SNPs (MAF uniform on [0.05, 0.5]), the trait and covariates."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.05, 0.5, m)
    G = rng.binomial(2, f, size=(n, m)).astype(np.float32)
    C = rng.standard_normal((n, 2))
    E = rng.standard_normal(n)
    eps = rng.standard_normal(n) if shape == "normal" else \
        rng.standard_t(5, n) / np.sqrt(5.0 / 3.0)
    y = C @ [0.3, -0.2] + 0.5 * E + np.exp(0.6 * E / 2) * eps
    if gamma:
        x = G - G.mean(axis=0)
        y = y[:, None] + gamma * x * E[:, None]      # one trait per SNP: a column each
    ids = [(f"i{i}", f"i{i}") for i in range(n)]
    bed = write_bed(os.path.join(d, f"g_{label}"), G, fid=[a for a, _ in ids],
                    iid=[b for _, b in ids])
    cov = write_table(os.path.join(d, f"c_{label}.txt"), ids, np.column_stack([C, E]),
                      header=["c1", "c2", "E"])
    return bed, cov, ids, G, C, E, y


def ols_int_chi2(y, G, C, E):
    """Per SNP the OLS t² of g·E in y ~ 1 + C + E + g + g·E (y: a vector or a column
    per SNP)."""
    n, m = G.shape
    base = np.column_stack([np.ones(n), C, E])
    out = np.empty(m)
    for j in range(m):
        g = G[:, j].astype(float)
        x = g - g.mean()
        X = np.column_stack([base, x, x * E])
        yy = y if y.ndim == 1 else y[:, j]
        beta, res, _, _ = np.linalg.lstsq(X, yy, rcond=None)
        s2 = float(res[0]) / (n - X.shape[1])
        cov = s2 * np.linalg.inv(X.T @ X)
        out[j] = beta[-1] ** 2 / cov[-1, -1]
    return out


def summarise(label, chi2):
    chi2 = chi2[np.isfinite(chi2)]
    p = stats.chi2.sf(chi2, 1)
    lam = np.median(chi2) / CHI2_1_MEDIAN
    print(f"  {label:<38} SNPs {chi2.size:6d}  λ {lam:6.3f}   p<1e-2 {np.mean(p < 1e-2) / 1e-2:5.2f}×"
          f"   p<1e-3 {np.mean(p < 1e-3) / 1e-3:5.2f}×")
    return lam


def hlm_chi2(path, col="int_pval"):
    h, rows = read_models(path)
    lp = column(h, rows, col)
    return stats.chi2.isf(10.0 ** -lp, 1)


def calibration(d, a):
    print(f"Calibration: n = {a.n}, {a.replicates} × {a.null_snps} null SNPs (χ² pooled "
          "over replicates), E on the mean (0.5) and log-variance (0.6)")
    variants = {"normal": [[]],
                "t5": [[], ["--robust"], ["--robust", "--robust-estimator", "hc0"]]}
    lams = {}
    for shape in ("normal", "t5"):
        chi2 = {k: [] for k in range(len(variants[shape]))}
        chi2["ols"] = []
        for rep in range(a.replicates):
            label = f"{shape}{rep}"
            bed, cov, ids, G, C, E, y = make_data(d, a.n, a.null_snps, a.seed + 1 + 100 * rep,
                                                  shape=shape, label=label)
            ph = write_table(os.path.join(d, f"y_{label}.txt"), ids, y[:, None],
                             header=["y"])
            base = [bed, 0, a.null_snps, ph, None, "--mean-covar", cov, "--interaction",
                    "E", "--min-maf", "0.01", "--threads", "1"]
            for k, opts in enumerate(variants[shape]):
                out = os.path.join(d, f"o_{label}_{k}")
                base[4] = out
                hlmm_chr(base + opts)
                chi2[k].append(hlm_chi2(out + ".models.gz"))
            chi2["ols"].append(ols_int_chi2(y, G, C, E))
            for f in (bed, bed[:-4] + ".bim", bed[:-4] + ".fam"):
                os.remove(f)
        for k, opts in enumerate(variants[shape]):
            lams[(shape, k)] = summarise(f"HLM {shape} {' '.join(opts) or '(exact, default)'}",
                                         np.concatenate(chi2[k]))
        lams[(shape, "ols")] = summarise(f"OLS {shape} (contrast)",
                                         np.concatenate(chi2["ols"]))
    return lams


def power(d, a, gamma=0.04):
    print(f"Power: n = {a.n}, {a.power_snps} SNPs each with γ = {gamma} (one trait)")
    bed, cov, ids, G, C, E, Y = make_data(d, a.n, a.power_snps, a.seed + 7, gamma=gamma,
                                          label="pow")
    y = Y[:, 0] + gamma * ((G[:, 1:] - G[:, 1:].mean(axis=0)) * E[:, None]).sum(axis=1)
    ph = write_table(os.path.join(d, "y_pow.txt"), ids, y[:, None], header=["y"])
    out = os.path.join(d, "o_pow")
    hlmm_chr([bed, 0, a.power_snps, ph, out, "--mean-covar", cov, "--interaction", "E",
              "--min-maf", "0.01", "--threads", "1"])
    p_hlm = stats.chi2.sf(hlm_chi2(out + ".models.gz"), 1)
    p_ols = stats.chi2.sf(ols_int_chi2(y, G, C, E), 1)
    print(f"  p < 1e-4: HLM {np.mean(p_hlm < 1e-4):.3f} of SNPs, OLS {np.mean(p_ols < 1e-4):.3f}"
          " (OLS inflated: not a fair power)")


def speed(d, a):
    from hlmm.sim.genotypes import simulate_genotypes

    n, m = a.n, a.speed_snps
    print(f"Speed (W9): n = {n}, {m} SNPs, two covariates, 1 thread, median of {a.repeat}")
    prefix = os.path.join(d, "w9")
    simulate_genotypes(prefix, n, m, 0.05, 0.5, seed=a.seed)
    rng = np.random.default_rng(a.seed + 3)
    ids = [(f"per{i}", f"per{i}") for i in range(n)]
    C, E = rng.standard_normal((n, 2)), rng.standard_normal(n)
    y = C @ [0.3, -0.2] + 0.5 * E + np.exp(0.3 * E) * rng.standard_normal(n)
    ph = write_table(os.path.join(d, "w9_y.txt"), ids, y[:, None], header=["y"])
    cov = write_table(os.path.join(d, "w9_c.txt"), ids, np.column_stack([C, E]),
                      header=["c1", "c2", "E"])
    base = [prefix + ".bed", 0, m, ph, os.path.join(d, "w9_o"), "--mean-covar", cov,
            "--threads", "1"]
    extra = {"default (no --interaction)": [], "--fit-covariates": ["--fit-covariates"],
             "--interaction E (exact, default)": ["--interaction", "E"],
             "--interaction E --engine general": ["--interaction", "E", "--engine",
                                                  "general"],
             "--interaction E --robust": ["--interaction", "E", "--robust"]}
    if a.quick:
        extra = {k: v for k, v in extra.items() if "general" not in k and "robust" not in k}
    runs = {k: [] for k in extra}
    for _ in range(a.repeat):
        for k in runs:
            runs[k].append(hlmm_chr(base + extra[k]))
    ref = np.median(runs["default (no --interaction)"])
    for k, ts in runs.items():
        print(f"  {k:<34} {np.median(ts):8.2f} s   {np.median(ts) / ref:6.2f}× the default scan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--null-snps", type=int, default=2000)
    ap.add_argument("--replicates", type=int, default=3)
    ap.add_argument("--power-snps", type=int, default=300)
    ap.add_argument("--speed-snps", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-calibration", action="store_true")
    ap.add_argument("--skip-power", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help="speed: only the scans within the goal (no --engine general, "
                         "--robust), for more repeats")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        if not a.skip_calibration:
            calibration(d, a)
        if not a.skip_power:
            power(d, a)
        if not a.skip_speed:
            speed(d, a)


if __name__ == "__main__":
    main()
