"""Benchmark (issue 22, item 1): opening a .bed fileset — the .bim's memory and speed.

    python bench/bench_bim.py [--repeat 3] [--before /work/main] [--dir /tmp/hlmm-bim]

Prints, per tree (this one, and ``--before TREE`` in the same run, alternated):

- the wall time of ``open_genotypes`` (imports excluded) on a 1,000,000-variant .bim (SNP alleles, rsIDs;
  100 individuals), min / median / max of ``--repeat`` runs, each in a fresh process;
- the peak RSS (``ru_maxrss``) of a process that opens (a) 70,000 variants with one
  1.5 MB allele, (b) 50,000 variants with one 2,000-base allele, and the same process
  on the plain 50,000-variant file for reference.  A process that fails (e.g. a
  MemoryError) is reported as such.
"""
import argparse
import os
import subprocess
import sys

import numpy as np

SNIPPET = """
import resource, sys, time
from hlmm.io import open_genotypes
import numpy
t = time.perf_counter()
try:
    g = open_genotypes({path!r})
    ok = f"{{g.n_snps}} variants"
except Exception as exc:
    ok = f"FAILED: {{type(exc).__name__}}: {{str(exc)[:80]}}"
wall = time.perf_counter() - t
print(wall, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, ok)
"""


def fileset(d, name, m, long_allele=0, n=100):
    prefix = os.path.join(d, name)
    if os.path.exists(prefix + ".bed"):
        return prefix + ".bed"
    rng = np.random.default_rng(1)
    with open(prefix + ".fam", "w") as fh:
        fh.writelines(f"f{i} i{i} 0 0 0 -9\n" for i in range(n))
    a1 = rng.choice(list("ACGT"), m)
    with open(prefix + ".bim", "w") as fh:
        for j in range(m):
            allele = "A" * long_allele if (long_allele and j == m // 2) else a1[j]
            fh.write(f"1\trs{j + 1}\t0\t{1000 + 7 * j}\t{allele}\tG\n")
    with open(prefix + ".bed", "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]))
        fh.write(b"\xaa" * (m * ((n + 3) // 4)))     # heterozygous: no warning
    return prefix + ".bed"


def one(tree, path):
    env = dict(os.environ, PYTHONPATH=tree)
    out = subprocess.run([sys.executable, "-c", SNIPPET.format(path=path)], env=env,
                         capture_output=True, text=True, cwd="/")
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1][:100]
        return float("nan"), float("nan"), f"crashed: {tail}"
    wall, rss, *ok = out.stdout.strip().split(maxsplit=2)
    return float(wall), float(rss), " ".join(ok)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", metavar="TREE")
    ap.add_argument("--dir", default="/tmp/hlmm-bim")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = [("after", here)] + ([("before", os.path.abspath(a.before))] if a.before else [])
    big = fileset(a.dir, "m1e6", 1_000_000)
    files = {"50,000 plain": fileset(a.dir, "m5e4", 50_000),
             "50,000 + one 2,000-base allele": fileset(a.dir, "m5e4_2k", 50_000, 2000),
             "70,000 + one 1.5 MB allele": fileset(a.dir, "m7e4_15m", 70_000, 1_500_000)}
    times = {label: [] for label, _ in trees}
    for _ in range(a.repeat):
        for label, tree in trees:
            times[label].append(one(tree, big)[0])
    print(f"open 1,000,000-variant .bim (+100-sample .fam), wall s, {a.repeat} runs, "
          f"load {os.getloadavg()[0]:.1f}")
    for label, _ in trees:
        t = times[label]
        print(f"  [{label}] min {min(t):.3f} median {np.median(t):.3f} max {max(t):.3f}")
    if a.before:
        print(f"  before / after (medians): "
              f"{np.median(times['before']) / np.median(times['after']):.3f}x")
    print("peak RSS (MB) of a process opening:")
    for name, path in files.items():
        for label, tree in trees:
            wall, rss, ok = one(tree, path)
            print(f"  [{label}] {name}: {rss:.0f} MB, {wall:.2f} s ({ok})")


if __name__ == "__main__":
    main()
