"""Benchmark 1 (issue 5): the HLM genome scan against PLINK's mean-only association scans.

    python bench/bench_scan_hlm.py [--n 100000] [--snps 20000] [--threads 2] [--plink19]
        [--repeat 3] [--baseline-tree DIR] [--no-bytecode]

Simulates a .bed (plink1.9 --simulate when installed), then times in the same run:
one plain read of the .bed (raw bytes, and bed-reader decoding every block), `hlmm chr
--whole-chr` (mean + variance effects per SNP; also with --robust and --brown-forsythe,
as ratios to the default scan), `plink2 --glm allow-no-covars` and,
with --plink19, `plink1.9 --linear`, all with the same threads. Prints wall time, peak
memory and the ratio to plink2.

``--repeat k``: the default scan and plink2 (and, with ``--baseline-tree DIR``, the
scan of another hlmm source tree, e.g. a worktree of an earlier commit with its built
kernels, run with ``PYTHONPATH=DIR``) are run k times in turn; medians and the ratio of
each round are printed.  The hlmm trees' bytecode is compiled first, as an installed
package has it (pip compiles it at install; with PYTHONDONTWRITEBYTECODE set, a source
tree would otherwise recompile its ~50 modules at every start, ~0.1 s): ``--no-bytecode``
skips that.
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
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--baseline-tree", default=None)
    ap.add_argument("--no-bytecode", action="store_true")
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
    if not a.no_bytecode:
        compile_trees([None, a.baseline_tree])
    if a.repeat > 1 or a.baseline_tree:
        return rounds(a, prefix, pheno)
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


def compile_trees(trees):
    """Bytecode of the hlmm package each tree (None: the one imported by default) runs."""
    import subprocess

    for tree in trees:
        if tree is None and trees.index(None) != 0:
            continue
        env = dict(os.environ, **({"PYTHONPATH": tree} if tree else {}))
        where = subprocess.run([sys.executable, "-c", "import hlmm, os; "
                                "print(os.path.dirname(hlmm.__file__))"], env=env,
                               capture_output=True, text=True, check=True).stdout.strip()
        subprocess.run([sys.executable, "-m", "compileall", "-q", where], check=True,
                       env=env)


def rounds(a, prefix, pheno):
    """The default scan (and the baseline tree's) and plink2, ``--repeat`` times in
    turn (the machine may be shared: each round's ratios are of the same minutes)."""
    out = os.path.join(a.dir, "w1_hlmm")
    hlmm = [sys.executable, "-m", "hlmm.cli.main", "chr", prefix + ".bed", "0", "0", pheno]
    opts = ["--whole-chr", "--threads", str(a.threads)]
    plink2 = shutil.which("plink2")
    cwd = os.getcwd()
    # a cwd without an hlmm source tree, so that PYTHONPATH decides which one runs
    os.chdir(a.dir)
    runs = {"hlmm": [], "baseline": [], "plink2": []}
    try:
        for _ in range(a.repeat):
            if a.baseline_tree:
                env = dict(os.environ, PYTHONPATH=os.path.abspath(os.path.join(
                    cwd, a.baseline_tree)))
                runs["baseline"].append(timed(hlmm + [out + "_base"] + opts, env=env))
            runs["hlmm"].append(timed(hlmm + [out] + opts))
            if plink2:
                runs["plink2"].append(timed(
                    [plink2, "--bfile", prefix, "--no-psam-pheno", "--pheno", pheno, "--glm",
                     "allow-no-covars", "--threads", str(a.threads), "--out",
                     os.path.join(a.dir, "w1_plink2")]))
    finally:
        os.chdir(cwd)
    med = {k: (float(np.median([w for w, _ in v])), max(r for _, r in v))
           for k, v in runs.items() if v}
    print(f"W2 n = {a.n}, {a.snps} SNPs, {a.threads} threads: medians of {a.repeat} "
          f"rounds ({'bytecode compiled' if not a.no_bytecode else 'no bytecode'})")
    for k, (w, r) in med.items():
        print(f"  {k:9s} {w:6.2f} s  peak {r:5.0f} MB   runs "
              + ", ".join(f"{x:.2f}" for x, _ in runs[k]))
    if "plink2" in med:
        for k in ("hlmm", "baseline"):
            if runs[k]:
                each = [x / p for (x, _), (p, _) in zip(runs[k], runs["plink2"])]
                print(f"  {k} / plink2: median of the rounds' ratios "
                      f"{np.median(each):.2f}x ({', '.join(f'{e:.2f}' for e in each)})")
    if runs["baseline"]:
        each = [x / b for (x, _), (b, _) in zip(runs["hlmm"], runs["baseline"])]
        print(f"  hlmm / baseline: {np.median(each):.2f}x "
              f"({', '.join(f'{e:.2f}' for e in each)})")


if __name__ == "__main__":
    main()
