"""The .bed class-sum kernel alone (issue #15, W2's inner loop), in one run:

    python bench/bench_bed_kernel.py [--bed /tmp/hlmm-bench/w1_100000_20000.bed]
                                     [--n 100000] [--snps 1000] [--repeat 5]

One block of --snps SNPs (the scan's block) of the W2 .bed (made by bench_scan_hlm.py),
identity sample, best of --repeat: ns per .bed byte, one thread, of
- a byte sum of the block (the memory floor: every byte read once);
- ``_bed.class_stats`` (the direct kernel: three additions per sample);
- ``_bed.class_stats_tabled`` and ``_bed.class_moments_tabled`` (the scan's kernels);
and the ratios of the scan's kernels to the direct one.  Also the same with a 128-SNP
block (other formats' block size).  Machines shared with other jobs: repeat the run.
"""
import argparse
import os
import sys

import numpy as np

from hlmm._core import _bed

sys.path.insert(0, os.path.dirname(__file__))
from _timing import best_time  # noqa: E402


def best(fn, repeat):
    return best_time(fn, repeat)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bed", default="/tmp/hlmm-bench/w1_100000_20000.bed")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--snps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    bps = (a.n + 3) // 4
    raw = np.fromfile(a.bed, dtype=np.uint8, count=3 + bps * a.snps)[3:].reshape(a.snps, bps)
    y = np.random.default_rng(0).standard_normal(a.n)
    idx = np.arange(a.n, dtype=np.intp)
    t2 = _bed.subset_tables(idx, y, a.n, 2)
    t4 = _bed.subset_tables(idx, y, a.n, 4)
    print(f"{a.snps} SNPs x {bps} bytes, one thread, best of {a.repeat} (ns per byte):")
    for m in (a.snps, min(128, a.snps)):
        blk = np.ascontiguousarray(raw[:m])
        s9, s15 = np.empty((m, 9)), np.empty((m, 15))
        per = 1e9 / blk.size
        floor = best(lambda: blk.sum(dtype=np.uint64), a.repeat) * per
        direct = best(lambda: _bed.class_stats(blk, idx, y, True, s9), a.repeat) * per
        tab = best(lambda: _bed.class_stats_tabled(blk, *t2, True, s9), a.repeat) * per
        mom = best(lambda: _bed.class_moments_tabled(blk, *t4, True, s15), a.repeat) * per
        print(f"  block {m:5d}: byte sum {floor:.3f}  class_stats {direct:.3f}  "
              f"class_stats_tabled {tab:.3f} ({tab / direct:.2f}x direct)  "
              f"class_moments_tabled {mom:.3f} ({mom / direct:.2f}x direct)")


if __name__ == "__main__":
    main()
