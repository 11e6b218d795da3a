"""Benchmark 1 (issue 5): the HLM genome scan against PLINK's mean-only association scans.

    python bench/bench_scan_hlm.py [--n 100000] [--snps 20000] [--threads 2] [--plink19]

Simulates a .bed (plink1.9 --simulate when installed), then times in the same run:
one plain read of the .bed (raw bytes, and bed-reader decoding every block), `hlmm chr
--whole-chr` (mean + variance effects per SNP; also with --robust and --brown-forsythe,
as ratios to the default scan), `plink2 --glm allow-no-covars` and,
with --plink19, `plink1.9 --linear`, all with the same threads. Prints wall time, peak
memory and the ratio to plink2.
"""
import argparse
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import simulate_fileset, timed, write_phenotype  # noqa: E402


def plain_read(bed_path, n, block=1000):
    from bed_reader import open_bed

    t0 = time.perf_counter()
    with open(bed_path, "rb") as fh:
        while fh.read(1 << 24):
            pass
    raw = time.perf_counter() - t0
    b = open_bed(bed_path)
    t0 = time.perf_counter()
    for s in range(0, b.sid_count, block):
        b.read(index=np.s_[:, s:s + block], dtype=np.int8)
    return raw, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--snps", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/hlmm-bench")
    ap.add_argument("--plink19", action="store_true", help="also time plink1.9 --linear (slow)")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    prefix = os.path.join(a.dir, f"w1_{a.n}_{a.snps}")
    t0 = time.perf_counter()
    simulate_fileset(prefix, a.n, a.snps)
    pheno = prefix + ".pheno"
    if not os.path.exists(pheno):
        write_phenotype(prefix + ".fam", pheno)
    print(f"fileset {prefix}.bed: n = {a.n}, SNPs = {a.snps} "
          f"(ready in {time.perf_counter() - t0:.1f} s)")
    raw, decoded = plain_read(prefix + ".bed", a.n)
    rows = [("read .bed bytes", raw, float("nan")), ("bed-reader decode, int8", decoded, float("nan"))]
    out = os.path.join(a.dir, "w1_hlmm")
    wall, rss = timed([sys.executable, "-m", "hlmm.cli.main", "chr", prefix + ".bed", "0", "0", pheno, out, "--whole-chr",
                       "--threads", str(a.threads)])
    rows.append(("hlmm chr (mean + variance)", wall, rss))
    default_wall = wall
    variants = []
    for label, opts in (("hlmm chr --robust", ["--robust"]),
                        ("hlmm chr --brown-forsythe", ["--brown-forsythe"])):
        w, r = timed([sys.executable, "-m", "hlmm.cli.main", "chr", prefix + ".bed", "0", "0",
                      pheno, out + opts[0].strip("-").replace("-", "_"), "--whole-chr",
                      "--threads", str(a.threads), *opts])
        rows.append((label, w, r))
        variants.append((label, w))
    plink2 = shutil.which("plink2")
    base = None
    if plink2:
        base, rss2 = timed([plink2, "--bfile", prefix, "--no-psam-pheno", "--pheno", pheno, "--glm",
                            "allow-no-covars", "--threads", str(a.threads), "--out",
                            os.path.join(a.dir, "w1_plink2")])
        rows.append(("plink2 --glm (mean only)", base, rss2))
    plink19 = shutil.which("plink1.9")
    if plink19 and a.plink19:
        w, r = timed([plink19, "--bfile", prefix, "--pheno", pheno, "--linear", "--threads",
                      str(a.threads), "--allow-no-sex", "--out", os.path.join(a.dir, "w1_plink19")])
        rows.append(("plink1.9 --linear (mean only)", w, r))
    print(f"{'run':34s} {'wall s':>8s} {'peak MB':>8s} {'vs plink2':>10s}")
    for name, w, r in rows:
        ratio = f"{w / base:.2f}x" if base else "-"
        print(f"{name:34s} {w:8.2f} {r:8.0f} {ratio:>10s}")
    for name, w in variants:
        print(f"{name}: {w / default_wall:.2f}x the default hlmm chr")


if __name__ == "__main__":
    main()
