"""Benchmark (issue #12): `hlmm chr` on .pgen and BGEN against `plink2 --glm`, same files.

    python bench/bench_formats.py [--n 100000] [--snps 20000] [--threads 2] [--hlmm-snps 6]
                                  [--repeats 3] [--before /work/main] [--only pgen,bgen]

Needs plink2 on PATH (Debian package plink2).  Makes, in --dir:
- a hard-call .pgen from the HLM benchmark's .bed (`plink2 --bfile … --make-pgen`);
- a dosage .pgen (`plink2 --dummy N SNPS 0.005 dosage-freq=0.4 --make-pgen`);
- the same exported as 8-bit BGEN (`--export bgen-1.2 bits=8`, with its .sample);
prints what pgenlib, the bgen package and hlmm's BGEN decoder alone take to decode
every variant (one thread: bench/bench_format_floors.py, which also splits hlmm's own
stages), and times `hlmm chr --whole-chr` (mean and variance per SNP) and
`plink2 --glm allow-no-covars` (mean only) on each, with the same threads, printing the
ratio (``--repeats``: that many alternating rounds and their medians; ``--before``:
another checkout, extensions built in place, timed in each round too).  Then the HLMM
with dosages (l = 500 random-effect SNPs): seconds per SNP for the first --hlmm-snps
dosage SNPs against the one syrk over their carriers' rows (the floor
of the class engine) and the general O(n·l²)-per-evaluation path on one SNP.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import simulate_fileset, timed  # noqa: E402


def plink2(*args):
    subprocess.run([shutil.which("plink2"), *map(str, args)], check=True, capture_output=True)


def phenotype_for(psam_or_fam, out, seed=2):
    """FID IID y (or #IID y) for every sample of a .psam/.fam/.sample."""
    rng = np.random.default_rng(seed)
    with open(psam_or_fam) as fh:
        lines = [ln.split() for ln in fh if ln.strip()]
    if lines[0][0].startswith("#"):
        head = lines[0]
        rows = lines[1:]
        if head[0] == "#IID":
            with open(out, "w") as fo:
                fo.write("#IID y\n")
                for r in rows:
                    fo.write(f"{r[0]} {rng.standard_normal():.6f}\n")
            return out
        with open(out, "w") as fo:
            for r in rows:
                fo.write(f"{r[0]} {r[1]} {rng.standard_normal():.6f}\n")
        return out
    with open(out, "w") as fo:
        for r in lines:
            fo.write(f"{r[0]} {r[1]} {rng.standard_normal():.6f}\n")
    return out


def hlmm_cmd(*args):
    return [sys.executable, "-m", "hlmm.cli.main", "chr", *map(str, args)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--snps", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hlmm-snps", type=int, default=6)
    ap.add_argument("--l", type=int, default=500)
    ap.add_argument("--dir", default="/tmp/hlmm-bench")
    ap.add_argument("--repeats", type=int, default=1,
                    help="alternate hlmm and plink2 this many times per file; medians")
    ap.add_argument("--only", default="", help="comma-separated: pgen, dosage, bgen, hlmm "
                    "(default: all)")
    ap.add_argument("--no-floors", action="store_true", help="skip the library floors")
    ap.add_argument("--before", default="", help="a checkout of hlmm (its extensions "
                    "built) also timed in each round, e.g. /work/main: before/after ratios "
                    "in the same run")
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    if not shutil.which("plink2"):
        raise SystemExit("plink2 not found (apt-get install plink2)")
    os.makedirs(a.dir, exist_ok=True)
    d = a.dir = os.path.abspath(a.dir)
    bed = os.path.join(d, f"w1_{a.n}_{a.snps}")
    simulate_fileset(bed, a.n, a.snps)
    hard = os.path.join(d, f"hard_{a.n}_{a.snps}")
    dose = os.path.join(d, f"dose_{a.n}_{a.snps}")
    t0 = time.perf_counter()
    if not os.path.exists(hard + ".pgen"):
        plink2("--bfile", bed, "--make-pgen", "--out", hard)
    if not os.path.exists(dose + ".pgen"):
        plink2("--dummy", a.n, a.snps, "0.005", "dosage-freq=0.4", "--make-pgen", "--out", dose)
    if not os.path.exists(dose + ".bgen"):
        plink2("--pfile", dose, "--export", "bgen-1.2", "bits=8", "ref-first", "--out", dose)
    print(f"files ready in {time.perf_counter() - t0:.1f} s: n = {a.n}, SNPs = {a.snps}")
    # what the libraries alone cost (no hlmm): the floor under each ratio below
    from bench_format_floors import bgen_blocks_floor, bgen_floor, pgen_floors

    if not a.no_floors:
        print("library floors, all variants, one thread: "
              f"pgenlib int8 hard calls {pgen_floors(hard, a.snps, False):.2f} s, "
              f"pgenlib float32 dosages {pgen_floors(dose, a.snps, True):.2f} s, "
              f"bgen alt_dosage {bgen_floor(dose + '.bgen', a.snps):.2f} s, hlmm's BGEN "
              f"decoder {bgen_blocks_floor(dose + '.bgen', a.snps, dose + '.sample'):.2f} s",
              flush=True)
    cases = [("hard-call .pgen", hard + ".pgen", ["--pfile", hard],
              phenotype_for(hard + ".psam", hard + ".y")),
             ("dosage .pgen", dose + ".pgen", ["--pfile", dose],
              phenotype_for(dose + ".psam", dose + ".y")),
             ("8-bit BGEN", dose + ".bgen",
              ["--bgen", dose + ".bgen", "ref-first", "--sample", dose + ".sample"],
              None)]
    print(f"{'file':18s} {'hlmm s':>8s} {'MB':>6s} {'plink2 s':>9s} {'MB':>6s} {'ratio':>7s}")
    keys = ("pgen", "dosage", "bgen")
    for key, (label, path, src, pheno) in zip(keys, cases):
        if only and key not in only:
            continue
        if pheno is None:
            pheno = cases[1][3]
        out = os.path.join(d, "fmt_" + label.replace(" ", "_").replace(".", ""))
        runs, before = [], []
        args = (path, 0, 0, pheno, out, "--whole-chr", "--threads", a.threads)
        for _ in range(a.repeats):      # alternating: the load of a shared machine drifts
            if a.before:
                env = dict(os.environ, PYTHONPATH=os.path.abspath(a.before))
                # from another directory: `python -m` puts the working directory first
                # on sys.path, before PYTHONPATH
                w_b, r_b = timed(hlmm_cmd(*args), env=env, cwd=d)
            # with --before, this checkout's (built in place) against that one's
            here = (dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(
                os.path.abspath(__file__)))) if a.before else None)
            w_h, r_h = timed(hlmm_cmd(*args), env=here, cwd=d if a.before else None)
            w_p, r_p = timed([shutil.which("plink2"), *src, "--no-psam-pheno", "--pheno",
                              pheno, "--glm", "allow-no-covars", "--threads",
                              str(a.threads), "--out", out + "_plink2"])
            runs.append((w_h, w_p, w_h / w_p))
            print(f"{label:18s} {w_h:8.2f} {r_h:6.0f} {w_p:9.2f} {r_p:6.0f} "
                  f"{w_h / w_p:6.2f}x", flush=True)
            if a.before:
                before.append((w_b, w_p, w_b / w_p))
                print(f"{'  (before)':18s} {w_b:8.2f} {r_b:6.0f} {w_p:9.2f} {r_p:6.0f} "
                      f"{w_b / w_p:6.2f}x", flush=True)
        if a.repeats > 1:
            med = np.median(np.array(runs), axis=0)
            ratios = sorted(r[2] for r in runs)
            print(f"{label:18s} median of {a.repeats}: hlmm {med[0]:.2f} s, plink2 "
                  f"{med[1]:.2f} s, ratio {med[2]:.2f}x (range {ratios[0]:.2f}–"
                  f"{ratios[-1]:.2f})", flush=True)
            if before:
                med = np.median(np.array(before), axis=0)
                ratios = sorted(r[2] for r in before)
                print(f"{'  (before)':18s} median: hlmm {med[0]:.2f} s, ratio {med[2]:.2f}x "
                      f"(range {ratios[0]:.2f}–{ratios[-1]:.2f})", flush=True)
    if not only or "hlmm" in only:
        hlmm_dosage(a, dose, cases[1][3])


def hlmm_dosage(a, dose, pheno):
    """HLMM, dosage SNPs: the class engine per SNP against its carriers' syrk floor."""
    from scipy.linalg import blas
    from threadpoolctl import threadpool_limits

    from hlmm.models.hlmm import HLMM
    from hlmm.io.run_log import Log
    from hlmm.scan.genome_scan import GenomeScan, ScanConfig

    rand = os.path.join(a.dir, f"dose_rand_{a.n}_{a.l}")
    if not os.path.exists(rand + ".bed"):      # l hard-called SNPs of the same individuals
        plink2("--pfile", dose, "--thin-count", a.l, "--seed", 1, "--make-bed", "--out", rand)
    cfg = ScanConfig(genofile=dose + ".pgen", start=0, end=a.hlmm_snps, phenofile=pheno,
                     outprefix=os.path.join(a.dir, "fmt_hlmm"),
                     random_gts=(rand + ".bed",), block_size=1)
    t0 = time.perf_counter()
    scan = GenomeScan(cfg, Log())
    print(f"\nHLMM with dosages: n = {scan.sample.n}, l = {scan.G.shape[1]}; setup "
          f"{time.perf_counter() - t0:.1f} s")
    every = np.arange(scan.geno.n_samples, dtype=np.intp)
    D = scan.geno.read_dosages(0, a.hlmm_snps, every)[scan.sample_index]
    print(f"{'SNP':>4s} {'carriers':>9s} {'fit s':>7s} {'floor s':>8s} {'ratio':>7s}")
    ratios = []
    with threadpool_limits(1, user_api="blas"):
        for j in range(a.hlmm_snps):
            g = D[:, j]
            t = time.perf_counter()
            res = scan._class_scan.fit_snp_dosage(g)
            fit_s = time.perf_counter() - t
            called = ~np.isnan(g)
            vals, cnt = np.unique(g[called], return_counts=True)
            rows = np.flatnonzero(~called | (g != vals[np.argmax(cnt)]))
            Gr = np.ascontiguousarray(scan.G[rows])
            t = time.perf_counter()
            blas.dsyrk(1.0, Gr, trans=1, lower=1)
            floor = time.perf_counter() - t
            ratios.append(fit_s / floor)
            print(f"{j:4d} {len(rows):9d} {fit_s:7.2f} {floor:8.3f} {fit_s / floor:6.1f}x "
                  f"{'' if res['ok'] else res['reason']}", flush=True)
        g = D[:, 0]
        ok = ~np.isnan(g)
        x = g[ok] - g[ok].mean()
        X = np.column_stack([np.ones(ok.sum()), x])
        t = time.perf_counter()
        HLMM(scan.y[ok], X, X, scan.G[ok]).fit(h2_init=scan.h2_start)
        gen = time.perf_counter() - t
    print(f"median {np.median(ratios):.1f}x the carriers' syrk; the general path on SNP 0: "
          f"{gen:.1f} s")


if __name__ == "__main__":
    main()
