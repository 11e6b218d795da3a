"""Benchmark (issue 7): `hlmm chr` on a local Dask cluster against the local threaded path.

    python bench/bench_dask.py [--n 100000] [--snps 20000] [--hlmm-snps 200] [--l 500]

W2: HLM scan of n × snps; W3: HLMM scan of the first --hlmm-snps SNPs with l random-effect
SNPs. Each runs locally with 2 threads, then with --dask-workers 1 (2 threads) and
--dask-workers 2 (1 thread each); prints wall times, the speed-up against the local run
and the overhead per task, (dask wall − local wall) / tasks.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _timing import simulate_fileset, timed, write_phenotype  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--snps", type=int, default=20_000)
    ap.add_argument("--hlmm-snps", type=int, default=200)
    ap.add_argument("--l", type=int, default=500)
    ap.add_argument("--block-size", type=int, default=1000)
    ap.add_argument("--hlmm-block-size", type=int, default=20)
    ap.add_argument("--dir", default="/tmp/hlmm-bench")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    test = os.path.join(a.dir, f"w1_{a.n}_{a.snps}")
    rand = os.path.join(a.dir, f"rand_{a.n}_{a.l}")
    simulate_fileset(test, a.n, a.snps, seed=1)
    simulate_fileset(rand, a.n, a.l, seed=2)
    pheno = test + ".pheno"
    if not os.path.exists(pheno):
        write_phenotype(test + ".fam", pheno)
    hlmm = [sys.executable, "-m", "hlmm.cli.main", "chr"]
    work = {
        "W2 HLM": (hlmm + [test + ".bed", "0", str(a.snps), pheno], a.block_size, a.snps),
        "W3 HLMM": (hlmm + [test + ".bed", "0", str(a.hlmm_snps), pheno, "--random-gts",
                            rand + ".bed"], a.hlmm_block_size, a.hlmm_snps),
    }
    print(f"{'workload':10s} {'run':26s} {'wall s':>8s} {'speed-up':>9s} {'tasks':>6s} "
          f"{'overhead/task s':>16s}")
    for name, (cmd, block, snps) in work.items():
        tasks = -(-snps // block)
        out = os.path.join(a.dir, "dask_out")
        base = None
        for label, extra in (("local, 2 threads", ["--threads", "2"]),
                             ("dask 1 worker x 2 threads", ["--dask-workers", "1", "--threads", "2"]),
                             ("dask 2 workers x 1 thread", ["--dask-workers", "2", "--threads", "1"])):
            wall, _ = timed(cmd + [out, "--block-size", str(block)] + extra)
            if base is None:
                base = wall
                print(f"{name:10s} {label:26s} {wall:8.2f} {'1.00x':>9s} {tasks:6d} {'-':>16s}")
            else:
                print(f"{name:10s} {label:26s} {wall:8.2f} {base / wall:8.2f}x {tasks:6d} "
                      f"{(wall - base) / tasks:16.4f}")


if __name__ == "__main__":
    main()
