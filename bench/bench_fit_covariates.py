"""Benchmark W7 (issue 15): the per-SNP cost of ``--fit-covariates`` against one syrk.

    python bench/bench_fit_covariates.py [--n 100000] [--covariates 10] [--snps 40]
                                         [--repeat 3]

Every SNP's model under ``--fit-covariates`` is the general-path HLM with X = V =
[1, covariates, x] (n × 12 for 10 covariates).  The unit is one BLAS ``dsyrk`` of that
n × 12 design (scipy.linalg.blas, one thread), timed in the same run, interleaved with
the fits so both see the same machine load.  Prints ms per SNP of
``GenomeScan._fit_one`` (what ``hlmm chr --fit-covariates`` spends per SNP, reading
aside), its ratio to the syrk, the Newton iterations, and the same figures for the cold
start (no start values: the pre-issue-15 path) on the same SNPs.  ``--repeat`` passes
over the SNPs give the spread of the median ratio.
"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # the source tree, built in place
from _timing import simulate_fileset  # noqa: E402


def write_inputs(fam, pheno, covar, q, seed=5):
    """Phenotype with covariate effects on its mean and variance, and the covariates."""
    ids = [line.split()[:2] for line in open(fam)]
    n = len(ids)
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((n, q))
    y = (C @ rng.normal(0, 0.3, q)
         + np.exp(0.5 * (C @ rng.normal(0, 0.3 / np.sqrt(q), q))) * rng.standard_normal(n))
    with open(pheno, "w") as fh:
        for (f, i), v in zip(ids, y):
            fh.write(f"{f} {i} {v:.6f}\n")
    with open(covar, "w") as fh:
        for (f, i), row in zip(ids, C):
            fh.write(f"{f} {i} " + " ".join(f"{v:.6f}" for v in row) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--covariates", type=int, default=10)
    ap.add_argument("--snps", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/hlmm-bench")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: this process's CPU time (one BLAS thread), less disturbed "
                         "by other jobs on a shared machine")
    a = ap.parse_args(argv)
    clock = time.process_time if a.clock == "cpu" else time.perf_counter
    from scipy.linalg import blas
    from threadpoolctl import threadpool_limits

    import hlmm
    from hlmm.models.hlm import HLM
    from hlmm.io.run_log import Log
    from hlmm.scan.genome_scan import GenomeScan, ScanConfig

    os.makedirs(a.dir, exist_ok=True)
    test = os.path.join(a.dir, f"hlmm_test_{a.n}_{a.snps}")
    simulate_fileset(test, a.n, a.snps, seed=3)
    pheno = test + f".covpheno{a.covariates}"
    covar = test + f".covar{a.covariates}"
    if not (os.path.exists(pheno) and os.path.exists(covar)):
        write_inputs(test + ".fam", pheno, covar, a.covariates)
    cfg = ScanConfig(genofile=test + ".bed", start=0, end=a.snps, phenofile=pheno,
                     outprefix=os.path.join(a.dir, "w7"), mean_covar=covar,
                     var_covar=covar, fit_covariates=True, threads=1)
    with threadpool_limits(1, user_api="blas"):
        scan = GenomeScan(cfg, Log())
        dos = scan.bed.read_dosages(0, a.snps, scan.sample_index)
        n, p = scan.X.shape[0], scan.X.shape[1] + 1
        print(f"hlmm {hlmm.__file__}\nn = {n}, X = V = n × {p} "
              f"({a.covariates} covariates, intercept, SNP), {a.snps} SNPs, 1 thread")

        def cold(g):
            # the pre-issue-15 per-SNP fit: HLM.fit from its own start values
            ok = ~np.isnan(g)
            x = g[ok] - g[ok].mean()
            return HLM(scan.y[ok], np.column_stack([scan.X[ok], x]),
                       np.column_stack([scan.V[ok], x])).fit()

        # Fortran order: scipy's dsyrk then reads it in place (a C array would be copied)
        D = np.asfortranarray(np.column_stack([scan.X, dos[:, 0]]))
        # Every SNP's fit and the syrk are timed in each of --repeat interleaved passes;
        # the machine is shared, so the headline is per SNP the fastest pass over the
        # fastest syrk of the run (both least disturbed), with the per-pass medians'
        # spread beside it.
        m = a.snps
        t_fit = {"warm": np.full((a.repeat, m), np.inf), "cold": np.full((a.repeat, m), np.inf)}
        t_syrk = np.full((a.repeat, m), np.inf)
        iters, ok = [], np.ones(m, bool)
        for rep in range(a.repeat):
            for j in range(m):
                g = dos[:, j]
                for _ in range(2):
                    t = clock()
                    blas.dsyrk(1.0, D, trans=1, lower=1)
                    t_syrk[rep, j] = min(t_syrk[rep, j], clock() - t)
                t = clock()
                fit = scan._fit_one(g)
                t_fit["warm"][rep, j] = clock() - t
                t = clock()
                res = cold(g)
                t_fit["cold"][rep, j] = clock() - t
                ok[j] &= fit.status == "ok"
                if rep == 0:
                    iters.append(res.n_iter)
        syrk = t_syrk.min()
        print(f"{a.clock} clock")
        print(f"{'path':28s} {'ms/SNP':>8s} {'syrks/SNP':>10s}  (median over {ok.sum()} SNPs of the "
              f"fastest of {a.repeat} passes; per-pass medians)")
        for k, name in (("warm", "_fit_one (scan path)"), ("cold", "HLM.fit cold start")):
            best = t_fit[k][:, ok].min(axis=0)
            per_pass = np.median(t_fit[k][:, ok] / t_syrk[:, ok], axis=1)
            print(f"{name:28s} {np.median(best) * 1e3:8.1f} {np.median(best) / syrk:10.1f}  "
                  f"({', '.join(f'{v:.1f}' for v in per_pass)} syrks)")
        print(f"one dsyrk of n × {p} (scipy, Fortran order): {syrk * 1e3:.2f} ms; Newton "
              f"iterations of the cold start: mean {np.mean(iters):.1f}")
        # the warm start's own iterations, outside the timed loop
        it = []
        for j in range(a.snps):
            g = dos[:, j]
            ok = ~np.isnan(g)
            x = g[ok] - g[ok].mean()
            X = np.column_stack([scan.X[ok], x])
            V = np.column_stack([scan.V[ok], x])
            try:
                it.append(HLM(scan.y[ok], X, V).fit(start=scan.null).n_iter)
            except TypeError:                 # hlmm before issue 15: no start values
                break
        if it:
            print(f"chord iterations of the warm start: mean {np.mean(it):.1f}, max {max(it)}")


if __name__ == "__main__":
    main()
