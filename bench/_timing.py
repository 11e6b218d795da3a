"""Shared benchmark helpers: run a command under /usr/bin/time -v, simulate a fileset."""
import os
import re
import shutil
import subprocess
import sys
import time


def best_time(fn, repeat, clock=time.perf_counter):
    """(best seconds of ``repeat`` calls of ``fn``, the last result); ``clock``: wall
    time by default, ``time.process_time`` for CPU time."""
    import numpy as np

    best, out = np.inf, None
    for _ in range(repeat):
        t0 = clock()
        out = fn()
        best = min(best, clock() - t0)
    return best, out


def timed(cmd, env=None, cwd=None):
    """Run ``cmd`` (list) in ``cwd``; return (wall seconds, peak RSS in MB). Raises on
    failure."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if os.path.exists(gnu_time):
        full = [gnu_time, "-v"] + cmd
    else:
        full = cmd
    t0 = time.perf_counter()
    p = subprocess.run(full, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-2000:] + p.stderr[-2000:])
        raise RuntimeError(f"command failed: {' '.join(map(str, cmd))}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    rss = int(m.group(1)) / 1024 if m else float("nan")
    return wall, rss


def simulate_fileset(prefix, n, snps, seed=1):
    """A .bed/.bim/.fam of ``snps`` null SNPs (MAF uniform 0.05–0.95) for n individuals,
    with plink1.9 --simulate when installed, else ``hlmm simulate genotypes``."""
    if os.path.exists(prefix + ".bed"):
        return
    plink = shutil.which("plink1.9") or shutil.which("plink")
    if plink:
        with open(prefix + ".sim", "w") as fh:
            fh.write(f"{snps} null 0.05 0.95 1.00 1.00\n")
        subprocess.run([plink, "--simulate", prefix + ".sim", "--make-bed", "--out", prefix,
                        "--simulate-ncontrols", str(n), "--simulate-ncases", "0",
                        "--seed", str(seed)], check=True, capture_output=True)
    else:
        subprocess.run(["hlmm", "simulate", "genotypes", prefix, "--n", str(n), "--snps",
                        str(snps), "--seed", str(seed)], check=True)


def write_phenotype(fam, out, seed=2):
    import numpy as np

    rng = np.random.default_rng(seed)
    with open(fam) as fh, open(out, "w") as fo:
        for line in fh:
            f, i = line.split()[:2]
            fo.write(f"{f} {i} {rng.standard_normal():.6f}\n")
