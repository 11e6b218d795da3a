"""Benchmark (issue 15): set-up costs — whole small scans, the HLMM design, table reading.

    python bench/bench_setup.py [--repeat 5] [--before /work/main] [--threads 2]
                                [--skip-w8] [--dir /tmp/hlmm-bench]

Prints, in one run:

- W1: the tutorial HLM scan (n = 100,000, 500 SNPs), the whole command `hlmm chr`
  (interpreter start-up and imports included), against the original hlmm's 16.29 s
  (a constant: its wall time in /work/shared/reference/README.md, not re-measured);
- W4: the HLMM set-up, reading and standardising the tutorial random.bed
  (100,000 × 500) — ``RandomEffectsInput`` + ``design``, timed inside one process;
- W8: n = 500,000 × 2,000 SNPs with 0.5 % missing calls (``plink2 --dummy``), whole
  command `hlmm chr --whole-chr` against `plink2 --glm allow-no-covars` on the same
  files, run alternately;
- the read of a phenotype file of 100 numeric columns × 100,000 rows (``read_table``).

Every figure is min / median / max of ``--repeat`` runs.  With ``--before TREE`` (a
checkout whose extensions are built, e.g. the main branch) the same measurements are
made with that tree on PYTHONPATH in the same run, for before/after ratios; without it,
the "before" figures of the issue are printed as constants.  The machine is shared:
read the ratios, and the spread.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import simulate_fileset, write_phenotype  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(os.path.dirname(HERE), "shared", "reference", "tutorial")
ORIGINAL_W1 = 16.29           # s, the original hlmm_chr.py on the tutorial (reference README)
ISSUE_BEFORE = {"W1": 0.99, "W4": 2.4, "W8 ratio": 0.67}   # issue 15's measurements

W4_SNIPPET = """
import json, time
import numpy as np
from hlmm.io import open_genotypes
from hlmm.io.random_effects import RandomEffectsInput
out = {{"design": [], "design_cpu": [], "read": [], "bed_reader_int8": []}}
for _ in range({repeat}):
    t, c = time.perf_counter(), time.process_time()
    r = RandomEffectsInput([{bed!r}], num_threads={threads})
    G = r.design(r.ids[0])
    out["design"].append(time.perf_counter() - t)
    out["design_cpu"].append(time.process_time() - c)
    del G, r
    t = time.perf_counter()
    b = open_genotypes({bed!r}, num_threads={threads})
    b.read_packed(0, b.n_snps)
    out["read"].append(time.perf_counter() - t)
    import bed_reader
    t = time.perf_counter()
    with bed_reader.open_bed({bed!r}, num_threads={threads}) as ob:
        ob.read(dtype=np.int8)
    out["bed_reader_int8"].append(time.perf_counter() - t)
print(json.dumps(out))
"""

READ_SNIPPET = """
import json, time
from hlmm.io.tables import read_table
out = {{"wall": [], "cpu": []}}
for _ in range({repeat}):
    t, c = time.perf_counter(), time.process_time()
    tab = read_table({path!r})
    out["wall"].append(time.perf_counter() - t)
    out["cpu"].append(time.process_time() - c)
assert tab.values.shape == ({rows}, {cols})
print(json.dumps(out))
"""


def env_for(tree):
    return {**os.environ, "PYTHONPATH": tree}


def in_process(snippet, tree):
    """What ``snippet`` prints (times: a list, or JSON), run with ``tree`` first on the
    path."""
    p = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True,
                       env=env_for(tree), cwd="/")
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    if p.stdout.startswith("{"):
        return json.loads(p.stdout)
    return [float(x) for x in p.stdout.split()]


def run(cmd, env=None):
    """(wall seconds, CPU seconds: user + system of the child and its threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    # cwd "/": `python -m` puts the working directory first on the path, before PYTHONPATH
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-2000:] + p.stderr[-2000:])
        raise RuntimeError(f"command failed: {' '.join(map(str, cmd))}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def runs(cmd, repeat, env=None):
    out = [run(cmd, env) for _ in range(repeat)]
    return [w for w, _ in out], [c for _, c in out]


def import_floor(repeat):
    """Starting Python and importing what any `hlmm chr` run needs."""
    return runs([sys.executable, "-c", "import numpy, scipy.linalg, scipy.special, click, "
                 "threadpoolctl"], repeat)


def spread(times, cpu=None):
    t = np.asarray(times)
    out = f"{t.min():6.3f} / {np.median(t):6.3f} / {t.max():6.3f}"
    return out + (f" (CPU median {np.median(cpu):.3f})" if cpu is not None else "")


def tutorial_files(d):
    """test.bed, random.bed and the phenotype of the tutorial (the reference copy when
    present, else simulated at the same size)."""
    if os.path.exists(os.path.join(REFERENCE, "test.bed")):
        ref = REFERENCE
        return (os.path.join(ref, "test.bed"), os.path.join(ref, "random.bed"),
                os.path.join(ref, "test_phenotype.fam"))
    test, rand = os.path.join(d, "tut_test"), os.path.join(d, "tut_random")
    simulate_fileset(test, 100_000, 500, seed=1)
    simulate_fileset(rand, 100_000, 500, seed=2)
    if not os.path.exists(test + ".pheno"):
        write_phenotype(test + ".fam", test + ".pheno")
    return test + ".bed", rand + ".bed", test + ".pheno"


def w8_files(d):
    prefix = os.path.join(d, "w8_500000_2000")
    if not os.path.exists(prefix + ".bed"):
        subprocess.run(["plink2", "--dummy", "500000", "2000", "0.005", "scalar-pheno",
                        "--seed", "8", "--make-bed", "--threads", "2", "--out", prefix],
                       check=True, capture_output=True)
    pheno = prefix + ".pheno"
    if not os.path.exists(pheno):
        with open(prefix + ".fam") as fh, open(pheno, "w") as fo:
            for line in fh:
                f, i, *_, y = line.split()
                fo.write(f"{f} {i} {y}\n")
    return prefix, pheno


def wide_table(d, rows=100_000, cols=100):
    path = os.path.join(d, f"pheno_{cols}x{rows}.txt")
    if not os.path.exists(path):
        rng = np.random.default_rng(15)
        with open(path, "w") as fh:
            fh.write("FID IID " + " ".join(f"P{j + 1}" for j in range(cols)) + "\n")
            fmt = " ".join(["%.6f"] * cols)
            for i, v in enumerate(rng.standard_normal((rows, cols))):
                fh.write(f"f{i} i{i} " + fmt % tuple(v) + "\n")
    return path, rows, cols


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--before", metavar="TREE",
                    help="also time this checkout (built) in the same run")
    ap.add_argument("--skip-w8", action="store_true", help="skip the n = 500,000 workload")
    ap.add_argument("--dir", default="/tmp/hlmm-bench")
    a = ap.parse_args()
    a.dir = os.path.abspath(a.dir)
    os.makedirs(a.dir, exist_ok=True)
    trees = [("after", HERE)] + ([("before", os.path.abspath(a.before))] if a.before else [])
    test, rand, pheno = tutorial_files(a.dir)
    wide, rows, cols = wide_table(a.dir)
    out = os.path.join(a.dir, "setup_bench")
    results = {}
    w1 = {label: ([], []) for label, _ in trees}
    for _ in range(a.repeat):           # alternate the trees, so that load changes hit both
        for label, tree in trees:
            w, c = run([sys.executable, "-m", "hlmm.cli.main", "chr", test, "0", "500", pheno,
                        out + "_w1", "--threads", str(a.threads)], env_for(tree))
            w1[label][0].append(w)
            w1[label][1].append(c)
    for label, tree in trees:
        w4 = in_process(W4_SNIPPET.format(repeat=a.repeat, bed=rand, threads=a.threads), tree)
        rd = in_process(READ_SNIPPET.format(repeat=a.repeat, path=wide, rows=rows, cols=cols),
                        tree)
        results[label] = {"W1": w1[label], "W4": (w4["design"], w4["design_cpu"]),
                          "W4 read": w4["read"], "bed-reader int8": w4["bed_reader_int8"],
                          "read": (rd["wall"], rd["cpu"])}
    floor = import_floor(a.repeat)
    w8 = None
    if not a.skip_w8 and shutil.which("plink2"):
        prefix, w8_pheno = w8_files(a.dir)
        w8 = {label: ([], []) for label in [t for t, _ in trees] + ["plink2"]}
        for _ in range(a.repeat):           # alternate, so that load changes hit all alike
            for label, tree in trees:
                w, c = run([sys.executable, "-m", "hlmm.cli.main", "chr", prefix + ".bed", "0",
                            "0", w8_pheno, out + "_w8", "--whole-chr", "--threads",
                            str(a.threads)], env_for(tree))
                w8[label][0].append(w)
                w8[label][1].append(c)
            w, c = run(["plink2", "--bfile", prefix, "--no-psam-pheno", "--pheno", w8_pheno,
                        "--glm", "allow-no-covars", "--threads", str(a.threads), "--out",
                        out + "_w8_plink2"])
            w8["plink2"][0].append(w)
            w8["plink2"][1].append(c)

    med = np.median
    print(f"{a.repeat} runs each, wall seconds min / median / max (and CPU seconds, which "
          f"load inflates less); {a.threads} threads; load average {os.getloadavg()[0]:.1f}")
    print(f"import floor (python -c 'import numpy, scipy.linalg, scipy.special, click, "
          f"threadpoolctl'): {spread(*floor)}")
    for label, _ in trees:
        r = results[label]
        print(f"[{label}]")
        print(f"  W1 hlmm chr, tutorial HLM (n = 100,000, 500 SNPs): {spread(*r['W1'])}  "
              f"-> {ORIGINAL_W1 / med(r['W1'][0]):.1f}x faster than the original's "
              f"{ORIGINAL_W1} s (a constant), best {ORIGINAL_W1 / min(r['W1'][0]):.1f}x")
        print(f"  W4 random-effects set-up (random.bed 100,000 x 500): {spread(*r['W4'])}")
        print(f"     opening random.bed and reading its bytes: {spread(r['W4 read'])}; "
              f"bed-reader's read of it as int8: {spread(r['bed-reader int8'])}")
        print(f"  read_table {cols} columns x {rows:,} rows: {spread(*r['read'])}")
        if w8:
            print(f"  W8 hlmm chr --whole-chr (n = 500,000, 2,000 SNPs): {spread(*w8[label])}"
                  f"  -> {med(w8[label][0]) / med(w8['plink2'][0]):.2f}x plink2's wall time "
                  f"(medians)")
    if w8:
        print(f"  plink2 --glm allow-no-covars (W8): {spread(*w8['plink2'])}")
    if a.before:
        b, f = results["before"], results["after"]
        wall = {"W1": (b["W1"][0], f["W1"][0]), "W4": (b["W4"][0], f["W4"][0]),
                "read": (b["read"][0], f["read"][0])}
        cpu = {"W1": (b["W1"][1], f["W1"][1]), "W4": (b["W4"][1], f["W4"][1]),
               "read": (b["read"][1], f["read"][1])}
        if w8:
            wall["W8"] = (w8["before"][0], w8["after"][0])
            cpu["W8"] = (w8["before"][1], w8["after"][1])
        print("before / after, medians: wall "
              + ", ".join(f"{k} {med(x) / med(y):.2f}x" for k, (x, y) in wall.items())
              + "; CPU " + ", ".join(f"{k} {med(x) / med(y):.2f}x" for k, (x, y) in cpu.items()))
    else:
        print(f"before (issue 15, not re-measured): W1 {ISSUE_BEFORE['W1']} s, W4 "
              f"{ISSUE_BEFORE['W4']} s, W8 {ISSUE_BEFORE['W8 ratio']}x plink2")


if __name__ == "__main__":
    main()
