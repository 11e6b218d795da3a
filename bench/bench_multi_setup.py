"""Benchmark W6's setup (issue 14): everything of `hlmm chr` before the SNP loop, for one
phenotype and for many.

    python bench/bench_multi_setup.py [--dir /tmp/hlmm-bench] [--prefix w1_100000_20000]
        [--repeat 3]

On ``PREFIX.bed`` with ``PREFIX.pheno1`` (one column) and ``PREFIX.pheno100_0`` (100
columns; both made by bench_multi_pheno.py's simulation when absent), times in one
process, best of ``--repeat``, the scan's construction as `hlmm chr --whole-chr`
(``--all-pheno`` for the many-column file) does it (``hlmm.scan.run._open_scan``):

* ``setup + null``: the two figures of the log's ``Timing:`` line (ScanInputs and each
  phenotype's sample and designs; each phenotype's null model), wall seconds, and the
  process CPU seconds of the whole construction (the machine may be shared: CPU is the
  steadier figure);
* ``old``: the same with the previous code path restored by patching it in (the null
  model by ``HLM.fit``'s Newton iterations, each phenotype's sample and IDs list built
  from scratch), as the oracle of what was saved; ``new/old`` ratios.  The compiled
  table parser cannot be patched back: its gain (0.27 → 0.17 s CPU on the 100-column
  file) is in neither figure, so ``old`` here is faster than the previous commit;
* the ratio of many phenotypes to one (the goal: setup + null ≤ 1.0 s for 100).
"""
import argparse
import contextlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))


@contextlib.contextmanager
def old_path():
    """The setup as it was before the closed-form null and the shared sample parts."""
    from hlmm.scan import genome_scan as scan
    from hlmm.io import sample
    from hlmm.models.hlm import HLM

    fit, parts = scan.fit_intercept_only, sample.SampleFrame._shared_parts

    def newton(y):
        one = np.ones(len(y))
        return HLM(y, one, one).fit()

    def unshared(self, keep, label):
        self._shared.clear()
        out = parts(self, keep, label)
        out[1].get()            # the IDs list, built for every phenotype as before
        return out

    scan.fit_intercept_only, sample.SampleFrame._shared_parts = newton, unshared
    try:
        yield
    finally:
        scan.fit_intercept_only, sample.SampleFrame._shared_parts = fit, parts


def open_once(bed, pheno, many, outprefix):
    from hlmm.io.run_log import Log
    from hlmm.scan.genome_scan import ScanConfig
    from hlmm.scan.run import _open_scan

    cfg = ScanConfig(genofile=bed, start=0, end=0, phenofile=pheno, outprefix=outprefix,
                     whole_chr=True, all_pheno=many, threads=2)
    t0, c0 = time.perf_counter(), time.process_time()
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
        scan, _, _ = _open_scan(cfg, Log())
    return (scan.t_setup, scan.t_null, time.perf_counter() - t0, time.process_time() - c0)


def best_of(repeat, *args):
    runs = [open_once(*args) for _ in range(repeat)]
    best = min(runs, key=lambda r: r[0] + r[1])
    return best[0], best[1], min(r[2] for r in runs), min(r[3] for r in runs)


def ensure_data(d, prefix):
    bed = os.path.join(d, prefix + ".bed")
    p1, p100 = (os.path.join(d, prefix + s) for s in (".pheno1", ".pheno100_0"))
    if not os.path.exists(bed):
        from _timing import simulate_fileset

        n, snps = (int(x) for x in prefix.split("_")[1:3])
        simulate_fileset(os.path.join(d, prefix), n, snps)
    from bench_multi_pheno import write_phenotypes

    for path, k in ((p1, 1), (p100, 100)):
        if not os.path.exists(path):
            write_phenotypes(os.path.join(d, prefix + ".fam"), path, k, 0.0)
    return bed, p1, p100


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/tmp/hlmm-bench")
    ap.add_argument("--prefix", default="w1_100000_20000")
    ap.add_argument("--out", default="/tmp/bench_multi_setup", help="OUTPREFIX (nothing "
                    "is written: the scan is only constructed)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    bed, p1, p100 = ensure_data(a.dir, a.prefix)
    rows = {}
    for label, pheno, many in (("1 phenotype", p1, False), ("100 phenotypes", p100, True)):
        for path in ("old", "new"):
            with old_path() if path == "old" else contextlib.nullcontext():
                rows[label, path] = best_of(a.repeat, bed, pheno, many, a.out)
    print(f"{'':16} {'path':4} {'setup':>7} {'null':>7} {'s+n':>7} {'wall':>7} {'cpu':>7}")
    for (label, path), (s, nl, wall, cpu) in rows.items():
        print(f"{label:16} {path:4} {s:7.3f} {nl:7.3f} {s + nl:7.3f} {wall:7.3f} {cpu:7.3f}")

    def sn(key):
        return rows[key][0] + rows[key][1]

    for label in ("1 phenotype", "100 phenotypes"):
        print(f"{label}: setup + null new/old = {sn((label, 'new')) / sn((label, 'old')):.3f}, "
              f"cpu new/old = {rows[label, 'new'][3] / rows[label, 'old'][3]:.3f}")
    for path in ("old", "new"):
        print(f"{path}: 100 phenotypes / 1 = "
              f"{sn(('100 phenotypes', path)) / sn(('1 phenotype', path)):.1f}× "
              f"(setup + null {sn(('100 phenotypes', path)):.3f} s; goal ≤ 1.0 s)")


if __name__ == "__main__":
    main()
