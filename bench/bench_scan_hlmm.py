"""Benchmark 2 (issue 5): the HLMM scan's per-SNP cost against its floor.

    python bench/bench_scan_hlmm.py [--n 100000] [--l 500] [--snps 200] [--general 2]

Per SNP the class-statistics engine forms the Gram of the carriers of the smaller
genotype classes (one syrk over those rows of G) and then iterates in O(l³). The floor
is the time of that one syrk as the engine runs it (``_gram.gram_rows`` over the rows
outside the largest class, missing calls included, one thread), timed right after
each SNP's fit (the fastest of --repeat alternated runs of each, as the machine is
shared).  Prints per-SNP seconds, the median and mean ratio to the floor by MAF
band, the general O(n·l²)-per-evaluation
path on the first --general SNPs, --robust against the model-based fit on the same SNPs,
and the peak memory of the whole `hlmm chr` run.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import simulate_fileset, timed, write_phenotype  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--l", type=int, default=500)
    ap.add_argument("--snps", type=int, default=200)
    ap.add_argument("--general", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2,
                    help="per SNP, the fastest of this many fits and floors")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: this process's CPU time (BLAS is one thread here), "
                         "less disturbed by other jobs on a shared machine")
    ap.add_argument("--no-cli", action="store_true", help="skip the `hlmm chr` run")
    ap.add_argument("--robust-snps", type=int, default=60,
                    help="time --robust (the sandwich) on the first K SNPs")
    ap.add_argument("--dir", default="/tmp/hlmm-bench")
    a = ap.parse_args()
    global _clock
    _clock = time.process_time if a.clock == "cpu" else time.perf_counter
    from threadpoolctl import threadpool_limits

    from hlmm._core import _bed
    from hlmm.models.hlmm import HLMM
    from hlmm.io.run_log import Log
    from hlmm.scan.genome_scan import ScanConfig, GenomeScan

    os.makedirs(a.dir, exist_ok=True)
    test = os.path.join(a.dir, f"hlmm_test_{a.n}_{a.snps}")
    rand = os.path.join(a.dir, f"rand_{a.n}_{a.l}")
    simulate_fileset(test, a.n, a.snps, seed=3)
    simulate_fileset(rand, a.n, a.l, seed=2)
    pheno = test + ".pheno"
    if not os.path.exists(pheno):
        write_phenotype(test + ".fam", pheno)
    cfg = ScanConfig(genofile=test + ".bed", start=0, end=a.snps, phenofile=pheno,
                     outprefix=os.path.join(a.dir, "hlmm_scan"), random_gts=(rand + ".bed",))
    t0 = time.perf_counter()
    scan = GenomeScan(cfg, Log())
    print(f"n = {a.n}, l = {scan.G.shape[1]}, SNPs = {a.snps}; setup + null h2 "
          f"{time.perf_counter() - t0:.1f} s (null h2 {scan.null_h2[0]:.4f})")
    packed = scan.bed.read_packed(0, a.snps)
    codes = np.empty((a.snps, scan.sample.n), dtype=np.int8)
    _bed.decode_codes(packed, scan.sample_index, True, codes)
    rows_out = []
    with threadpool_limits(1, user_api="blas"):
        for j in range(a.snps):
            c = codes[j]
            counts = [(c == k).sum() for k in (0, 1, 2)]
            largest = int(np.argmax(counts))
            rows = np.flatnonzero(c != largest).astype(np.intp)
            fit_s = floor = np.inf
            for _ in range(a.repeat):   # alternated; the fastest of each (shared machine)
                t = _clock()
                res = scan._class_scan.fit_snp(c)
                fit_s = min(fit_s, _clock() - t)
                floor = min(floor, _time_gram_rows(scan.G, rows))
            maf = min(res["freq"], 1 - res["freq"])
            rows_out.append((maf, len(rows), fit_s, floor, res["ok"]))
    r = np.array([(m, k, f, fl) for m, k, f, fl, _ in rows_out])
    print(f"{a.clock} clock, fastest of {a.repeat} per SNP")
    print(f"{'MAF bin':12s} {'SNPs':>5s} {'carrier rows':>12s} {'fit s/SNP':>10s} "
          f"{'floor s':>8s} {'fit/floor':>9s} {'(mean)':>7s} {'(max)':>7s}")
    for lo, hi in ((0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5)):
        sel = (r[:, 0] > lo) & (r[:, 0] <= hi)
        if sel.any():
            ratio = r[sel, 2] / r[sel, 3]
            print(f"({lo:.1f}, {hi:.1f}]   {sel.sum():5d} {r[sel, 1].mean():12.0f} "
                  f"{r[sel, 2].mean():10.3f} {r[sel, 3].mean():8.3f} "
                  f"{np.median(ratio):8.2f}x {r[sel, 2].mean() / r[sel, 3].mean():6.2f}x "
                  f"{ratio.max():6.2f}x")
    print(f"all          {len(r):5d} {r[:, 1].mean():12.0f} {r[:, 2].mean():10.3f} "
          f"{r[:, 3].mean():8.3f} {np.median(r[:, 2] / r[:, 3]):8.2f}x "
          f"{r[:, 2].mean() / r[:, 3].mean():6.2f}x  ({sum(ok for *_, ok in rows_out)} ok)")
    if a.robust_snps:
        from hlmm.scan.class_engines import HLMMClassScan

        rob = HLMMClassScan(scan.y, scan.G, scan.h2_start, robust=True)
        k = min(a.robust_snps, a.snps)
        ratios, extra = [], []
        with threadpool_limits(1, user_api="blas"):
            for j in range(k):
                # interleaved, so both see the same machine load
                t = time.perf_counter()
                scan._class_scan.fit_snp(codes[j])
                t_mod = time.perf_counter() - t
                t = time.perf_counter()
                rob.fit_snp(codes[j])
                t_rob = time.perf_counter() - t
                ratios.append(t_rob / t_mod)
                extra.append(t_rob - t_mod)
        print(f"--robust (pooled sandwich, one gemv of G per SNP), first {k} SNPs: "
              f"{np.median(ratios):.3f}x the model-based fit (median; mean "
              f"{np.mean(ratios):.3f}x, +{np.median(extra) * 1e3:.0f} ms per SNP)")
    if a.general:
        times = []
        with threadpool_limits(1, user_api="blas"):
            dos = scan.bed.read_dosages(0, a.general, scan.sample_index)
            for j in range(a.general):
                g = dos[:, j]
                ok = ~np.isnan(g)
                x = g[ok] - g[ok].mean()
                X = np.column_stack([np.ones(ok.sum()), x])
                t = time.perf_counter()
                HLMM(scan.y[ok], X, X, scan.G[ok]).fit(h2_init=scan.h2_start)
                times.append(time.perf_counter() - t)
        print(f"general path (O(n·l²) per evaluation), first {a.general} SNPs: "
              f"{np.mean(times):.2f} s/SNP = {np.mean(times) / r[:a.general, 2].mean():.1f}x "
              f"the class engine on the same SNPs")
    if a.no_cli:
        return
    wall, rss = timed([sys.executable, "-m", "hlmm.cli.main", "chr", test + ".bed", "0",
                       str(a.snps), pheno, os.path.join(a.dir, "hlmm_scan_cli"),
                       "--random-gts", rand + ".bed", "--threads", "2"])
    print(f"hlmm chr --random-gts, {a.snps} SNPs, 2 threads: {wall:.1f} s wall, "
          f"peak RSS {rss:.0f} MB (G alone: {scan.G.nbytes / 2**20:.0f} MB)")


def _time_gram_rows(G, rows):
    from hlmm._core import _gram

    out = np.empty((G.shape[1], G.shape[1]))
    t = _clock()
    _gram.gram_rows(G, rows, out)
    return _clock() - t


_clock = time.perf_counter


if __name__ == "__main__":
    main()
