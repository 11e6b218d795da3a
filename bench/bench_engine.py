"""Benchmark of the scan engine (hlmm._core._bed, hlmm.scan.class_engines).

1. ``class_stats`` on a simulated 100,000-individual × 2,000-SNP packed .bed block
   (identity and permuted sample_index), ``decode_codes``, against
   ``bed_reader.open_bed(...).read()`` of the same SNPs.
2. ``HLMClassScan.fit_block``: time per SNP.
3. ``HLMMClassScan.fit_snp`` for n = 100,000, l = 500 at MAF 0.05, 0.2, 0.5 against the
   floor: one BLAS syrk (scipy.linalg.blas.dsyrk) of the rows outside the largest class.

Usage: python bench/bench_engine.py [--n 100000] [--snps 2000] [--l 500]
Timings are best-of-``--repeat`` wall clock; the load average is printed because other
processes on the machine inflate multi-threaded BLAS timings.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
from scipy.linalg import blas

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from hlmm._core import _bed  # noqa: E402
from hlmm.scan.class_engines import ClassStatsHLMM, HLMClassScan, HLMMClassScan  # noqa: E402


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def simulate_packed(rng, n, m, miss=0.01):
    """Packed .bed rows (m × ceil(n/4)) with Hardy–Weinberg genotypes, f ~ U(0.05, 0.5)."""
    bps = (n + 3) // 4
    packed = np.empty((m, bps), dtype=np.uint8)
    code_of = np.array([3, 2, 0], dtype=np.uint8)   # A2 count 0, 1, 2 -> 11, 10, 00
    for s0 in range(0, m, 200):
        s1 = min(m, s0 + 200)
        f = rng.uniform(0.05, 0.5, s1 - s0)[:, None]
        g = (rng.random((s1 - s0, n)) < f).astype(np.int8) + (rng.random((s1 - s0, n)) < f)
        c = code_of[g]
        c[rng.random(c.shape) < miss] = 1
        c = np.concatenate([c, np.zeros((s1 - s0, 4 * bps - n), np.uint8)], axis=1)
        c = c.reshape(s1 - s0, bps, 4)
        packed[s0:s1] = c[..., 0] | (c[..., 1] << 2) | (c[..., 2] << 4) | (c[..., 3] << 6)
    return packed


def bench_bed(n, m, repeat, rng):
    from bed_reader import open_bed
    packed = simulate_packed(rng, n, m)
    y = rng.normal(size=n)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sim.bed")
        with open(path, "wb") as fh:
            fh.write(bytes([0x6C, 0x1B, 0x01]))
            fh.write(packed.tobytes())
        stats = np.empty((m, 9))
        ident = np.arange(n, dtype=np.intp)
        perm = rng.permutation(n).astype(np.intp)
        t, _ = best(lambda: _bed.class_stats(packed, ident, y, False, stats), repeat)
        rows.append(("class_stats, identity index", t))
        t, _ = best(lambda: _bed.class_stats(packed, perm, y, False, stats), repeat)
        rows.append(("class_stats, permuted index", t))
        codes = np.empty((m, n), dtype=np.int8)
        t, _ = best(lambda: _bed.decode_codes(packed, ident, False, codes), repeat)
        rows.append(("decode_codes, identity index", t))
        with open_bed(path, iid_count=n, sid_count=m, count_A1=False) as bed:
            t, g = best(lambda: bed.read(dtype="int8"), repeat)
            rows.append(("bed_reader read(int8), all threads", t))
            t, _ = best(lambda: bed.read(dtype="float64"), repeat)
            rows.append(("bed_reader read(float64), all threads", t))
            t, _ = best(lambda: bed.read(dtype="int8", num_threads=1), repeat)
            rows.append(("bed_reader read(int8), 1 thread", t))
        # the decoders agree (A2 count, −127 = missing in bed_reader's int8)
        assert np.array_equal(np.where(g == -127, -1, g), codes.T)
    nbytes = packed.size
    print(f"\n## .bed kernels: n = {n:,}, {m:,} SNPs, {nbytes / 1e6:.1f} MB packed")
    print(f"{'':40s} {'seconds':>9s} {'MB/s':>9s} {'SNPs/s':>10s}")
    for name, t in rows:
        print(f"{name:40s} {t:9.3f} {nbytes / t / 1e6:9.0f} {m / t:10.0f}")
    return stats


def bench_hlm(stats, y, repeat):
    scan = HLMClassScan(y)
    t, res = best(lambda: scan.fit_block(stats), repeat)
    m = stats.shape[0]
    print(f"\n## HLMClassScan.fit_block: {m:,} SNPs in {t * 1e3:.2f} ms = "
          f"{t / m * 1e6:.2f} µs/SNP ({int(res['ok'].sum())} ok)")


def bench_hlmm(n, l, repeat, rng):
    G = rng.binomial(2, rng.uniform(0.05, 0.5, l), (n, l)).astype(float)
    G = np.ascontiguousarray((G - G.mean(0)) / G.std(0) / np.sqrt(l))
    y = np.sqrt(0.3) * G @ rng.normal(size=l) + np.sqrt(0.7) * rng.normal(size=n)
    y -= y.mean()
    t0 = time.perf_counter()
    scan = HLMMClassScan(y, G, h2_init=0.3)
    t_pre = time.perf_counter() - t0
    print(f"\n## HLMMClassScan.fit_snp: n = {n:,}, l = {l}  (precompute GᵀG: {t_pre:.2f} s)")
    print(f"{'MAF':>5s} {'rows syrk':>10s} {'floor (s)':>10s} {'class stats':>12s} "
          f"{'fit_snp (s)':>12s} {'ratio':>6s} {'evals':>6s}")
    for maf in (0.05, 0.2, 0.5):
        codes = rng.binomial(2, maf, n).astype(np.int8)
        codes[rng.random(n) < 0.01] = -1
        cnt = np.bincount(codes + 1, minlength=4)
        largest = int(np.argmax(cnt[1:]))
        rows = np.flatnonzero(codes != largest)
        Gc = np.asfortranarray(G[rows].T)            # l × carriers: syrk input, gathered
        t_floor, _ = best(lambda: blas.dsyrk(1.0, Gc), repeat)
        t_cls, _ = best(lambda: scan.class_model(codes), repeat)
        # count likelihood evaluations (bench is single-threaded: patching is safe)
        counter = [0]
        evaluate = ClassStatsHLMM.evaluate

        def counting(self, *args, **kw):
            counter[0] += 1
            return evaluate(self, *args, **kw)
        ClassStatsHLMM.evaluate = counting
        try:
            t_fit, res = best(lambda: scan.fit_snp(codes), repeat)
        finally:
            ClassStatsHLMM.evaluate = evaluate
        evals = counter[0] // repeat
        assert res["ok"], res["reason"]
        print(f"{maf:5.2f} {rows.size:10,d} {t_floor:10.3f} {t_cls:12.3f} {t_fit:12.3f} "
              f"{t_fit / t_floor:6.1f} {evals:6d}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--snps", type=int, default=2_000)
    ap.add_argument("--l", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(2026)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    stats = bench_bed(a.n, a.snps, a.repeat, rng)
    bench_hlm(stats, rng.normal(size=a.n), a.repeat)
    bench_hlmm(a.n, a.l, a.repeat, rng)


if __name__ == "__main__":
    main()
