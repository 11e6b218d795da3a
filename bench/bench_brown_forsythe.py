"""Benchmark: the Brown–Forsythe kernel against the class-statistics pass, per SNP.

n = 100,000 individuals, 2,000 SNPs of random packed .bed bytes (MAF uniform 0.01–0.5,
~1 % missing calls, a permuted sample_index), one thread.  Prints the time per SNP of

* ``_bed.class_stats_tabled`` (the default scan's per-SNP pass),
* ``_levene.bf_block`` (the BF walk: medians, A_k, F; given the class statistics),
* ``BrownForsythe.block`` (class statistics + walk + p-values, all of BF),
* ``BrownForsythe.block(packed, stats)`` (walk + p-values, the class statistics given,
  as a scan that already has them would call it),

and the ratios, all on the same block in the same run.

    python bench/bench_brown_forsythe.py [--n 100000] [--snps 2000] [--repeat 3]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import best_time  # noqa: E402

from hlmm._core import _bed, _levene  # noqa: E402
from hlmm._threads import blas_single_threaded  # noqa: E402
from hlmm.scan.levene import BrownForsythe  # noqa: E402


def random_packed(n_fam, snps, rng, missing=0.01):
    """Random .bed rows: HWE genotypes with MAF ~ U(0.01, 0.5), ``missing`` calls."""
    bps = (n_fam + 3) // 4
    packed = np.empty((snps, bps), np.uint8)
    maf = rng.uniform(0.01, 0.5, snps)
    lut = np.array([0b00, 0b10, 0b11], np.uint8)     # genotype (A2 count) -> 2-bit code
    for s in range(snps):
        g = rng.binomial(2, maf[s], 4 * bps)
        c = lut[g]
        c[rng.random(4 * bps) < missing] = 0b01
        c[n_fam:] = 0
        packed[s] = c[0::4] | (c[1::4] << 2) | (c[2::4] << 4) | (c[3::4] << 6)
    return packed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--snps", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    n_fam = args.n + 3                      # a few .fam samples not analysed; n % 4 != 0
    sample_index = np.sort(rng.permutation(n_fam)[: args.n]).astype(np.intp)
    y = rng.standard_normal(args.n)
    t0 = time.perf_counter()
    packed = random_packed(n_fam, args.snps, rng)
    t_sim = time.perf_counter() - t0

    t0 = time.perf_counter()
    bf = BrownForsythe(sample_index, y, n_fam, count_a1=True)
    t_setup = time.perf_counter() - t0
    tables = bf.tables
    stats = np.empty((args.snps, 9))
    classes = np.empty((args.snps, 9))
    F = np.empty(args.snps)

    def run_stats():
        _bed.class_stats_tabled(packed, *tables, True, stats)

    def run_walk():
        _levene.bf_block(packed, bf.pos, bf.ys, stats, True, classes, F)

    with blas_single_threaded(True):
        run_stats()
        t_stats, _ = best_time(run_stats, args.repeat)
        t_walk, _ = best_time(run_walk, args.repeat)
        t_all, res = best_time(lambda: bf.block(packed), args.repeat)
        raw = np.empty((args.snps, 9))
        _bed.class_stats(packed, sample_index, y, True, raw)
        t_given, res2 = best_time(lambda: bf.block(packed, stats=raw), args.repeat)
    per = 1e6 / args.snps
    print(f"n = {args.n}, SNPs = {args.snps}, one thread (simulation {t_sim:.1f} s, "
          f"BrownForsythe setup {t_setup * 1e3:.1f} ms)")
    print(f"class_stats_tabled : {t_stats * per:8.1f} us/SNP  "
          f"({t_stats * 1e9 / args.snps / args.n:.2f} ns/sample)")
    print(f"bf_block (walk)    : {t_walk * per:8.1f} us/SNP  "
          f"({t_walk * 1e9 / args.snps / args.n:.2f} ns/sample)  "
          f"ratio to class stats {t_walk / t_stats:.2f}")
    print(f"BrownForsythe.block: {t_all * per:8.1f} us/SNP  "
          f"({t_all * 1e9 / args.snps / args.n:.2f} ns/sample)  "
          f"ratio to class stats {t_all / t_stats:.2f}")
    print(f"block, stats given : {t_given * per:8.1f} us/SNP  "
          f"({t_given * 1e9 / args.snps / args.n:.2f} ns/sample)  "
          f"ratio to class stats {t_given / t_stats:.2f}")
    print(f"finite F: {np.isfinite(res[0]).sum()} / {args.snps}; "
          f"max -log10 p {np.nanmax(res[1]):.2f}")


if __name__ == "__main__":
    main()
