"""Benchmark W6 (issue 14): many phenotypes in one pass over the genotypes.

    python bench/bench_multi_pheno.py [--n 100000] [--snps 20000] [--phenos 100]
        [--missing 0.0 | --missing-ramp] [--threads 2] [--hlmm] [--hlmm-phenos 10] [--hlmm-snps 20]
        [--kernel] [--repeat 3]

Times in the same run, on the W2 .bed (the fileset of bench_scan_hlm.py):
* reading the phenotype file of ``--phenos`` columns (hlmm.io.tables.read_table, best of 3);
* `hlmm chr --whole-chr` with a single-column phenotype file (the baseline), and with
  ``--all-pheno`` over ``--phenos`` columns: the ratio (goal ≤ 10× for 100 phenotypes)
  and the speed-up over as many separate runs (``phenos`` × the single run);
* with ``--hlmm``: the HLMM scan (n, l = 500 random SNPs, ``--hlmm-snps`` test SNPs) of
  one phenotype and of ``--hlmm-phenos`` phenotypes: seconds per SNP of the SNP loop
  (from each log) and their ratio (goal ≤ 2×).
Whole commands are timed ``--repeat`` times each, alternating, and the medians reported
(the two runs of W6 differ by ~10×, so one noisy run moves the ratio by a lot).
``--missing`` makes each phenotype miss that fraction of values at random (each its own
sample); ``--missing-ramp`` makes the k-th phenotype miss 0.2 % × k of its values (up to
20 % for the 100th: realistic, every phenotype its own sample, most of them nearly
complete).
With ``--kernel``: the shared HLM kernel alone (``_multi.class_column_sums``, one
thread, CPU seconds per SNP on 512 SNPs of the W2 .bed with ``1 + 2·phenos`` columns)
against the dense product it replaced (a dgemm of each SNP's two commonest classes'
0/1 rows with the same matrix, one BLAS thread: the floor of that path).
"""
import argparse
import os
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import best_time, simulate_fileset, timed  # noqa: E402


def write_phenotypes(fam, out, k, missing, seed=3, random_bed=None):
    """``k`` phenotypes: a third normal, a third t(5), a third χ²(4), each missing a
    fraction ``missing`` of its values (an array: one fraction per phenotype); with
    ``random_bed`` each also has a polygenic part of h2 between 0.05 and 0.3 over its
    SNPs (so that the HLMM's h2 is not at its boundary)."""
    rng = np.random.default_rng(seed)
    ids = np.loadtxt(fam, dtype=str, usecols=(0, 1))
    Y = rng.standard_normal((len(ids), k))
    # trait shapes users have: a third heavy-tailed, a third skewed
    Y[:, 1::3] = rng.standard_t(5, (len(ids), len(range(1, k, 3))))
    Y[:, 2::3] = rng.chisquare(4, (len(ids), len(range(2, k, 3))))
    if random_bed is not None:
        from bed_reader import open_bed

        G = open_bed(random_bed).read(dtype=np.float32)
        G = (G - np.nanmean(G, axis=0)) / np.nanstd(G, axis=0)
        G = np.nan_to_num(G)
        h2 = np.linspace(0.05, 0.3, k)
        Y = (Y - Y.mean(axis=0)) / Y.std(axis=0)
        u = rng.standard_normal((G.shape[1], k)).astype(np.float32)
        Y = np.sqrt(1 - h2) * Y + np.sqrt(h2 / G.shape[1]) * (G @ u)
    text = np.char.mod("%.6f", Y)
    missing = np.broadcast_to(np.asarray(missing, dtype=float), (k,))
    if np.any(missing > 0):
        text[rng.random(Y.shape) < missing] = "NA"
    with open(out, "w") as fh:
        fh.write(" ".join(["FID", "IID"] + [f"P{j + 1}" for j in range(k)]) + "\n")
        fh.write("\n".join(" ".join(row) for row in np.column_stack([ids, text])) + "\n")


def loop_seconds(log_path):
    m = re.search(r"SNP loop ([0-9.]+) s", open(log_path).read())
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--snps", type=int, default=20_000)
    ap.add_argument("--phenos", type=int, default=100)
    ap.add_argument("--missing", type=float, default=0.0)
    ap.add_argument("--missing-ramp", action="store_true",
                    help="the k-th phenotype misses 0.2 %% x k of its values")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hlmm", action="store_true")
    ap.add_argument("--skip-w6", action="store_true", help="only the HLMM part")
    ap.add_argument("--hlmm-phenos", type=int, default=10)
    ap.add_argument("--hlmm-snps", type=int, default=40)
    ap.add_argument("--kernel", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-tree", default=None,
                    help="also run the hlmm source tree DIR (PYTHONPATH=DIR) in turn")
    ap.add_argument("--dir", default="/tmp/hlmm-bench")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    hlmm = [sys.executable, "-m", "hlmm.cli.main"]
    threads = ["--threads", str(a.threads)]

    if a.kernel:
        kernel(a)
    if not a.skip_w6:
        w6(a, hlmm, threads)
    if a.hlmm:
        hlmm_part(a, hlmm, threads)


def w6(a, hlmm, threads):
    prefix = os.path.join(a.dir, f"w1_{a.n}_{a.snps}")
    simulate_fileset(prefix, a.n, a.snps)
    single = prefix + ".pheno1"
    many = f"{prefix}.pheno{a.phenos}_{'ramp' if a.missing_ramp else f'{a.missing:g}'}"
    missing = 0.002 * np.arange(1, a.phenos + 1) if a.missing_ramp else a.missing
    if not os.path.exists(single):
        write_phenotypes(prefix + ".fam", single, 1, 0.0)
    if not os.path.exists(many):
        write_phenotypes(prefix + ".fam", many, a.phenos, missing)
    from hlmm.io.tables import read_table

    t_read, tab = best_time(lambda: read_table(many), 3)
    print(f"read_table of {tab.values.shape[1]} columns x {tab.values.shape[0]} rows: "
          f"{t_read:.3f} s")

    out1 = os.path.join(a.dir, "w6_single")
    outk = os.path.join(a.dir, "w6_many")
    runs1, runsk, base1, basek = [], [], [], []
    benv = None
    if a.baseline_tree:
        benv = dict(os.environ, PYTHONPATH=os.path.abspath(a.baseline_tree))
    cwd = os.getcwd()
    os.chdir(a.dir)         # no hlmm source tree in the cwd: PYTHONPATH decides
    try:
        for _ in range(a.repeat):
            runs1.append(timed(hlmm + ["chr", prefix + ".bed", "0", "0", single, out1,
                                       "--whole-chr"] + threads))
            runsk.append(timed(hlmm + ["chr", prefix + ".bed", "0", "0", many, outk,
                                       "--whole-chr", "--all-pheno"] + threads))
            if benv is not None:
                basek.append(timed(hlmm + ["chr", prefix + ".bed", "0", "0", many,
                                           outk + "_base", "--whole-chr", "--all-pheno"]
                                   + threads, env=benv))
                base1.append(timed(hlmm + ["chr", prefix + ".bed", "0", "0", single,
                                           out1 + "_base", "--whole-chr"] + threads,
                                   env=benv))
    finally:
        os.chdir(cwd)
    w1, r1 = float(np.median([w for w, _ in runs1])), max(r for _, r in runs1)
    wk, rk = float(np.median([w for w, _ in runsk])), max(r for _, r in runsk)
    print(f"W6 n = {a.n}, {a.snps} SNPs, {a.threads} threads, phenotype missing rate "
          + ("0.2 % x k for the k-th" if a.missing_ramp else f"{a.missing:g}"))
    print(f"  (medians of {a.repeat} runs each; all: single "
          f"{', '.join(f'{w:.2f}' for w, _ in runs1)} s, many "
          f"{', '.join(f'{w:.2f}' for w, _ in runsk)} s)")
    print(f"  single phenotype      {w1:8.2f} s  peak {r1:7.0f} MB")
    print(f"  {a.phenos} phenotypes  {wk:8.2f} s  peak {rk:7.0f} MB  "
          f"ratio {wk / w1:.2f}x the single run (goal <= 10x); "
          f"{a.phenos * w1 / wk:.1f}x faster than {a.phenos} separate runs")
    print(f"  SNP loop: single {loop_seconds(out1 + '.log'):.2f} s, "
          f"{a.phenos} phenotypes {loop_seconds(outk + '.log'):.2f} s")
    print(f"  ratios of the rounds: "
          + ", ".join(f"{k / o:.2f}" for (o, _), (k, _) in zip(runs1, runsk)))
    if base1:
        b1 = float(np.median([w for w, _ in base1]))
        bk = float(np.median([w for w, _ in basek]))
        print(f"  baseline tree: single {b1:.2f} s, {a.phenos} phenotypes {bk:.2f} s "
              f"(ratio {bk / b1:.2f}x; rounds "
              + ", ".join(f"{k / o:.2f}" for (o, _), (k, _) in zip(base1, basek)) + ")")
        print(f"  {a.phenos} phenotypes, this tree / baseline: {wk / bk:.2f}x (rounds "
              + ", ".join(f"{k / b:.2f}" for (k, _), (b, _) in zip(runsk, basek)) + ")")



def kernel(a):
    from bed_reader import open_bed
    from threadpoolctl import threadpool_limits

    from hlmm._core import _multi

    prefix = os.path.join(a.dir, f"w1_{a.n}_{a.snps}")
    simulate_fileset(prefix, a.n, a.snps)
    m = min(512, a.snps)
    nb = (a.n + 3) // 4
    with open(prefix + ".bed", "rb") as fh:
        fh.seek(3)
        packed = np.frombuffer(fh.read(m * nb), np.uint8).reshape(m, nb).copy()
    rng = np.random.default_rng(4)
    B = rng.normal(size=(a.n, 1 + 2 * a.phenos))
    Bt = _multi.tile_columns(B)
    index = np.arange(a.n, dtype=np.intp)
    out = np.empty((m, 4, B.shape[1]))

    def cpu(fn):
        return best_time(fn, 3, clock=time.process_time)[0]

    t_new = cpu(lambda: _multi.class_column_sums(packed, index, True, Bt, out))
    # the dense path's core: two 0/1 rows per SNP (its two commonest classes) times B
    g = open_bed(prefix + ".bed").read(index=np.s_[:, :m], dtype=np.int8).T
    counts = np.stack([(g == k).sum(axis=1) for k in range(3)], axis=1)
    common = np.argsort(-counts, axis=1)[:, :2]
    A = np.concatenate([(g == common[:, [0]]), (g == common[:, [1]])]).astype(np.float64)
    with threadpool_limits(1):
        t_dense = cpu(lambda: A @ B)
    print(f"Kernel, n = {a.n}, {B.shape[1]} columns, {m} SNPs, one thread (CPU per SNP):")
    print(f"  tables (class_column_sums)   {t_new / m * 1e3:7.3f} ms")
    print(f"  dense dgemm floor (2 rows)   {t_dense / m * 1e3:7.3f} ms   "
          f"ratio {t_dense / t_new:.2f}x")


def hlmm_part(a, hlmm, threads):
    test = os.path.join(a.dir, f"hlmm_test_{a.n}_{a.hlmm_snps}")
    rand = os.path.join(a.dir, f"rand_{a.n}_500")
    simulate_fileset(test, a.n, a.hlmm_snps, seed=5)
    simulate_fileset(rand, a.n, 500, seed=6)
    p1 = test + ".h2pheno1"
    pk = test + f".h2pheno{a.hlmm_phenos}"
    if not os.path.exists(p1):
        write_phenotypes(test + ".fam", p1, 1, 0.0, seed=7, random_bed=rand + ".bed")
    if not os.path.exists(pk):
        write_phenotypes(test + ".fam", pk, a.hlmm_phenos, 0.0, seed=7,
                         random_bed=rand + ".bed")
    o1 = os.path.join(a.dir, "w6_hlmm_single")
    ok = os.path.join(a.dir, "w6_hlmm_many")
    # blocks of 5 SNPs keep both threads busy to the end with few test SNPs
    base = ["0", "0", "--block-size", "5"]
    per1, perk, w1s, wks = [], [], [], []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        timed(hlmm + ["chr", test + ".bed", *base, p1, o1, "--whole-chr", "--random-gts",
                      rand + ".bed"] + threads)
        w1s.append(time.perf_counter() - t0)
        per1.append(loop_seconds(o1 + ".log") / a.hlmm_snps)
        t0 = time.perf_counter()
        timed(hlmm + ["chr", test + ".bed", *base, pk, ok, "--whole-chr", "--all-pheno",
                      "--random-gts", rand + ".bed"] + threads)
        wks.append(time.perf_counter() - t0)
        perk.append(loop_seconds(ok + ".log") / a.hlmm_snps)
    s1, sk = float(np.median(per1)), float(np.median(perk))
    w1, wk = float(np.median(w1s)), float(np.median(wks))
    print(f"HLMM n = {a.n}, l = 500, {a.hlmm_snps} SNPs, {a.threads} threads")
    print(f"  1 phenotype: {s1:.3f} s per SNP (whole command {w1:.1f} s)")
    print(f"  {a.hlmm_phenos} phenotypes: {sk:.3f} s per SNP (whole command {wk:.1f} s)"
          f"  ratio {sk / s1:.2f}x per SNP (goal <= 2x)")
    print(f"  (medians of {a.repeat} runs; ratios of the runs in turn: "
          f"{', '.join(f'{k / o:.2f}' for o, k in zip(per1, perk))})")


if __name__ == "__main__":
    main()
