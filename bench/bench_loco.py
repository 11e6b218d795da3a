"""Calibration of the scan on related individuals with and without ``--pred`` (issue #24).

    python bench/bench_loco.py [--families 3000] [--sibs 4] [--causal 1000] [--test 2000]
                               [--h2 0.5] [--seed 1] [--keep DIR]

Sibships: ``--families`` pairs of unrelated parents (allele frequencies uniform on
[0.05, 0.5]), ``--sibs`` children each by Mendelian transmission at every SNP
(independent SNPs).  The trait is ``y = g + e`` with ``g`` the sum of ``--causal`` SNP
effects on chromosomes 2-21 (heritability ``--h2``) and ``e`` independent normal noise:
siblings share half of ``g``'s variance.  The test SNPs (``--test`` on each of
chromosomes 1 and 22) are null: any excess of their test statistics is the relatedness.

Step 1 is a simple stand-in for REGENIE's: ridge regression of the standardised trait
(REGENIE's scale) on the standardised causal-chromosome SNPs, ridge penalty
``M(1 − h2)/h2`` (the BLUP's), with 5-fold out-of-fold predictions (folds by family, so no
individual's prediction uses its siblings' phenotypes fitted in the same fold); LOCO_c is
the prediction from every chromosome but c, written as REGENIE writes ``PREFIX_1.loco``
and ``PREFIX_pred.list``; so is an oracle step 1 (the true genetic values, what a perfect
prediction would give).  The scan runs without and with ``--pred``; printed: λ =
median(χ²)/0.4549 of ``add_pval``, ``var_pval`` and ``av_pval`` (χ²₂), and the rate of
p < 0.01 over nominal; then the wall time of the scan with and without ``--pred``
(medians of 3 alternated runs).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from clihelp import column, read_models, write_table  # noqa: E402


def sibships(families, sibs, m, rng):
    """Children's genotypes (families·sibs × m, int8) and their family index."""
    f = rng.uniform(0.05, 0.5, m)
    out = np.empty((families * sibs, m), dtype=np.int8)
    for s in range(0, m, 500):
        e = min(m, s + 500)
        fs = f[s:e]
        # each parent's two haplotypes
        par = rng.random((families, 4, e - s)) < fs
        for k in range(sibs):
            # one haplotype from each parent, chosen independently per SNP
            a = np.where(rng.random((families, e - s)) < 0.5, par[:, 0, :], par[:, 1, :])
            b = np.where(rng.random((families, e - s)) < 0.5, par[:, 2, :], par[:, 3, :])
            out[k::sibs, s:e] = a.astype(np.int8) + b.astype(np.int8)
    return out, np.repeat(np.arange(families), sibs)


def write_bed(prefix, geno, chroms, fid, iid):
    import bed_reader

    m = geno.shape[1]
    bed_reader.to_bed(prefix + ".bed", geno.astype(np.float32), properties={
        "fid": fid, "iid": iid, "sid": [f"s{j}" for j in range(m)],
        "chromosome": [str(c) for c in chroms], "bp_position": list(range(1, m + 1)),
        "allele_1": ["A"] * m, "allele_2": ["G"] * m})
    return prefix + ".bed"


def ridge_loco(Z, chroms, y, h2, fam, rng, folds=5):
    """Out-of-fold ridge predictions per chromosome: ``{c: prediction of chromosome c's
    SNPs}`` (LOCO_c = total − part c)."""
    n, m = Z.shape
    lam = m * (1 - h2) / h2
    fold_of = rng.permutation(fam.max() + 1) % folds
    fold = fold_of[fam]
    parts = {c: np.zeros(n) for c in np.unique(chroms)}
    ZtZ = Z.T @ Z
    Zty = Z.T @ y
    for k in range(folds):
        te = fold == k
        Zk = Z[te]
        A = ZtZ - Zk.T @ Zk + lam * np.eye(m)
        beta = np.linalg.solve(A, Zty - Zk.T @ y[te])
        for c in parts:
            cols = chroms == c
            parts[c][te] = Zk[:, cols] @ beta[cols]
    return parts


def lam(p_col, df=1):
    x = stats.chi2.isf(10.0 ** -p_col[np.isfinite(p_col)], df)
    return np.median(x) / stats.chi2.median(df), np.mean(10.0 ** -p_col[np.isfinite(p_col)]
                                                           < 0.01) / 0.01


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", type=int, default=3000)
    ap.add_argument("--sibs", type=int, default=4)
    ap.add_argument("--causal", type=int, default=1000)
    ap.add_argument("--test", type=int, default=2000, help="null test SNPs per chromosome")
    ap.add_argument("--h2", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="write the files here (default: a temporary folder)")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    d = a.keep or tempfile.mkdtemp(prefix="bench_loco_")
    os.makedirs(d, exist_ok=True)
    n = a.families * a.sibs
    fid = [f"fam{i // a.sibs}" for i in range(n)]
    iid = [f"s{i % a.sibs}" for i in range(n)]
    causal, fam = sibships(a.families, a.sibs, a.causal, rng)
    cchrom = 2 + np.arange(a.causal) % 20
    Z = (causal - causal.mean(0)) / causal.std(0)
    g = Z @ rng.standard_normal(a.causal)
    g *= np.sqrt(a.h2) / g.std()
    y = g + np.sqrt(1 - a.h2) * rng.standard_normal(n)
    test, _ = sibships(a.families, a.sibs, 2 * a.test, rng)
    tchrom = np.repeat([1, 22], a.test)
    bed = write_bed(os.path.join(d, "test"), test, tchrom, fid, iid)
    ids = list(zip(fid, iid))
    pheno = write_table(os.path.join(d, "pheno.txt"), ids, y[:, None], header=["Y1"])
    # step 1 on REGENIE's scale: the standardised trait
    ys = (y - y.mean()) / y.std(ddof=1)
    parts = ridge_loco(Z, cchrom, ys, a.h2, fam, rng)
    total = sum(parts.values())
    r2 = np.corrcoef(total, g)[0, 1] ** 2
    keys = [f"{f}_{i}" for f, i in ids]
    order = np.argsort(keys)

    def write_pred(name, total, parts):
        loco = os.path.join(d, f"{name}_1.loco")
        with open(loco, "w") as fh:
            fh.write("FID_IID " + "".join(f"{keys[i]} " for i in order) + "\n")
            for c in range(1, 24):
                pred = total - parts.get(c, 0.0)
                fh.write(f"{c} " + "".join(f"{pred[i]:g} " for i in order) + "\n")
        with open(os.path.join(d, f"{name}_pred.list"), "w") as fh:
            fh.write(f"Y1 {loco}\n")
        return os.path.join(d, f"{name}_pred.list")

    ridge = write_pred("step1", total, parts)
    # the oracle: the true genetic values of the other chromosomes (all of g here), on
    # REGENIE's scale: what a perfect step 1 would give
    oracle = write_pred("oracle", g / y.std(ddof=1), {})
    print(f"{a.families} families × {a.sibs} siblings (n = {n}), h2 = {a.h2} from "
          f"{a.causal} SNPs on chromosomes 2-21, {2 * a.test} null test SNPs on 1 and 22; "
          f"step-1 ridge: r²(prediction, g) = {r2:.3f}")
    print(f"{'scan':<24}{'λ add':>8}{'λ var':>8}{'λ av':>8}{'add p<.01':>11}{'var p<.01':>11}")
    for label, extra in (("no --pred", []), ("--pred (ridge)", ["--pred", ridge]),
                         ("--pred (ridge) --robust", ["--pred", ridge, "--robust"]),
                         ("--pred (oracle)", ["--pred", oracle])):
        out = os.path.join(d, "".join(ch for ch in label if ch.isalnum()) or "nopred")
        subprocess.run([sys.executable, "-m", "hlmm.cli.main", "chr", bed, pheno, out,
                        "--whole-chr", "--min-maf", "0.01", *extra], check=True,
                       stderr=subprocess.DEVNULL)
        h, rows = read_models(out + ".models.gz")
        la, ta = lam(column(h, rows, "add_pval"))
        lv, tv = lam(column(h, rows, "var_pval"))
        lav, _ = lam(column(h, rows, "av_pval"), 2)
        print(f"{label:<24}{la:8.3f}{lv:8.3f}{lav:8.3f}{ta:11.2f}{tv:11.2f}")
    # the cost of --pred: one null model and engine per chromosome (two here), the LOCO
    # file read; medians of 3 runs of each, alternated, in this run
    times = {"no --pred": [], "--pred": []}
    for _ in range(3):
        for label, extra in (("no --pred", []), ("--pred", ["--pred", ridge])):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "hlmm.cli.main", "chr", bed, pheno,
                            os.path.join(d, "timing"), "--whole-chr", "--min-maf", "0.01",
                            "--threads", "1", *extra], check=True, stderr=subprocess.DEVNULL)
            times[label].append(time.perf_counter() - t0)
    base, pred = (float(np.median(times[k])) for k in ("no --pred", "--pred"))
    print(f"wall time (1 thread, whole command): no --pred {base:.2f} s, --pred {pred:.2f} s "
          f"(ratio {pred / base:.2f})")


if __name__ == "__main__":
    main()
