"""Floors of the .pgen and BGEN libraries (issue #12), and where `hlmm chr` spends its
time on those files, one thread, in one run.

    python bench/bench_format_floors.py [--dir /tmp/hlmm-bench] [--n 100000] [--snps 20000]
                                        [--sample-snps 2000] [--bgen-snps 2000]

Needs the files of bench/bench_formats.py (run it once first).  Prints, per file:
- the library alone decoding the variants with nothing else (pgenlib ``read_range`` int8
  hard calls of the hard-call .pgen; ``read_dosages_range`` float32 of the dosage .pgen;
  the ``bgen`` package's ``alt_dosage`` of every variant of the 8-bit BGEN), and hlmm's
  own BGEN decoder (``hlmm.io.bgen_blocks``, float64 rows of every sample);
- hlmm's own stages on the same variants: ``read_rows`` (library + our conversion),
  ``pack_rows``, the .bed kernel, the dosage class sums alone, and the dosage engine's
  ``fit_block`` (class sums + fits).
Timings of a subset (--sample-snps / --bgen-snps variants) are scaled to all SNPs; all
are one thread, so with T threads divide by up to T where the stage runs in the workers.
"""
import argparse
import os
import sys
import time

import numpy as np


def clock(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def pgen_floors(prefix, m, dosage):
    import pgenlib

    r = pgenlib.PgenReader(os.fsencode(prefix + ".pgen"))
    n = r.get_raw_sample_ct()
    block = 128
    if dosage:
        buf = np.empty((block, n), dtype=np.float32)
        read = r.read_dosages_range
    else:
        buf = np.empty((block, n), dtype=np.int8)
        read = r.read_range
    t0 = time.perf_counter()
    for a in range(0, m, block):
        b = min(m, a + block)
        read(a, b, buf[: b - a])
    return time.perf_counter() - t0


def bgen_floor(path, m):
    from bgen import BgenReader

    r = BgenReader(path, delay_parsing=True)
    t0 = time.perf_counter()
    for j in range(m):
        r[j].alt_dosage
    return time.perf_counter() - t0


def bgen_blocks_floor(path, m, sample_file=None, block=32):
    """hlmm's own BGEN decoding (hlmm.io.bgen_blocks: pread, isal inflate, the _bgen
    kernel) of the first m variants, every sample, float64 rows, one thread."""
    from hlmm.io.bgen import BgenSource

    src = BgenSource(path, sample_file=sample_file)
    t0 = time.perf_counter()
    for a in range(0, m, block):
        src.read_rows(a, min(m, a + block))
    return time.perf_counter() - t0


def hlmm_stages(path, pheno, m, extra=()):
    """Our stages on the first m variants, as the scan runs them (one thread)."""
    from hlmm.io.run_log import Log
    from hlmm.scan.genome_scan import GenomeScan, ScanConfig

    cfg = ScanConfig(genofile=path, start=0, end=0, phenofile=pheno, outprefix="/tmp/_floors",
                     whole_chr=True, threads=1, **dict(extra))
    scan = GenomeScan(cfg, Log())
    from hlmm._core import _bed, _dosage

    T = dict(read_rows=0.0, pack_rows=0.0, bed_kernel=0.0, dosage_sums=0.0,
             dosage_sums_and_fit=0.0)
    bs = scan.block_size
    for a in range(0, m, bs):
        b = min(m, a + bs)
        t, rows = clock(lambda: scan.geno.read_rows(a, b))
        T["read_rows"] += t
        packed = np.empty((b - a, (scan.geno.n_samples + 3) // 4), dtype=np.uint8)
        hard = np.empty(b - a, dtype=np.uint8)
        T["pack_rows"] += clock(lambda: _dosage.pack_rows(rows, packed, hard,
                                                          scan._bf is not None))[0]
        stats = np.empty((b - a, 9))
        T["bed_kernel"] += clock(lambda: _bed.class_stats_tabled(
            packed, *scan._tables, scan._count_a1, stats))[0]
        dos = np.flatnonzero(~hard.astype(bool))
        if dos.size:
            ds = scan._dosage_scan
            T["dosage_sums"] += clock(lambda: [ds.class_sums(np.ascontiguousarray(rows[j]))
                                               for j in dos])[0]
            T["dosage_sums_and_fit"] += clock(lambda: ds.fit_block(rows, which=dos))[0]
    return T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/hlmm-bench")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--snps", type=int, default=20_000)
    ap.add_argument("--sample-snps", type=int, default=2000)
    ap.add_argument("--bgen-snps", type=int, default=2000)
    a = ap.parse_args()
    hard = os.path.join(a.dir, f"hard_{a.n}_{a.snps}")
    dose = os.path.join(a.dir, f"dose_{a.n}_{a.snps}")
    for f in (hard + ".pgen", dose + ".pgen", dose + ".bgen"):
        if not os.path.exists(f):
            sys.exit(f"{f} missing: run bench/bench_formats.py first")
    scale = a.snps / a.sample_snps
    rows = []
    t = pgen_floors(hard, a.snps, False)
    rows.append(("pgenlib read_range int8, hard-call .pgen", t))
    t = pgen_floors(dose, a.sample_snps, True) * scale
    rows.append(("pgenlib read_dosages_range f32, dosage .pgen", t))
    t = bgen_floor(dose + ".bgen", a.bgen_snps) * a.snps / a.bgen_snps
    rows.append(("bgen alt_dosage, 8-bit BGEN", t))
    t = bgen_blocks_floor(dose + ".bgen", a.bgen_snps, dose + ".sample") * a.snps / a.bgen_snps
    rows.append(("hlmm bgen_blocks read_rows, 8-bit BGEN", t))
    print(f"library floors, all {a.snps} variants, one thread (s):")
    for name, t in rows:
        print(f"  {name:48s} {t:7.2f}")
    for label, path, pheno, m in (("hard-call .pgen", hard + ".pgen", hard + ".y", a.snps),
                                  ("dosage .pgen", dose + ".pgen", dose + ".y", a.sample_snps),
                                  ("8-bit BGEN", dose + ".bgen", dose + ".y", a.bgen_snps)):
        T = hlmm_stages(path, pheno, m)
        f = a.snps / m
        print(f"hlmm stages, {label}, scaled to {a.snps} variants, one thread (s): "
              + "  ".join(f"{k} {v * f:.2f}" for k, v in T.items()))


if __name__ == "__main__":
    main()
