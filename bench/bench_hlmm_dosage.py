"""Benchmark (issue 26, W10's dosage HLMM): dosage SNPs through ``fit_snp_dosage``.

    python bench/bench_hlmm_dosage.py [--n 20000] [--l 500] [--snps 40] [--uncertain 0.06]
        [--max-carriers 0.25]

Dosages: the msprime SNPs of ``bench_hlmm_ld.py`` with a fraction ``--uncertain`` of the
individuals moved off their hard call (normal noise, sd 0.3, clipped to [0, 2]) and
rounded to 8-bit BGEN's grid; SNPs with more than ``--max-carriers`` carriers
(individuals off the modal value) are skipped (the scan fits those beyond 60 % by the
general path).  G and y as in ``bench_hlmm_ld.py``, plus a variance effect.

Per SNP, in turn: the scan's fit (exact Hessian, ``CarrierStatsHLMM.hessian``, Newton of
``_newton_exact`` started from the fit of the nearest recent dosage SNP), the same from
the HLM start (``ld=False``), the previous path (the same model without the Hessian:
Newton steered by forward differences of the gradient, SEs from central differences)
and the floor (one syrk over the carriers' rows).  BLAS on one thread.  Prints per-SNP times, evaluations,
the medians and the largest differences between the two fits.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--l", type=int, default=500)
    ap.add_argument("--snps", type=int, default=40)
    ap.add_argument("--uncertain", type=float, default=0.06)
    ap.add_argument("--max-carriers", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default="/tmp/hlmm-bench")
    a = ap.parse_args()
    from threadpoolctl import threadpool_limits

    from bench_hlmm_ld import msprime_codes
    from hlmm._core import _gram
    from hlmm.models import hlmm_carriers
    from hlmm.scan.class_engines import HLMMClassScan

    codes = msprime_codes(a.n, a.snps, a.seed, a.dir)
    rng = np.random.default_rng(a.seed + 1)
    p = rng.uniform(0.05, 0.5, a.l)
    G = np.ascontiguousarray((rng.binomial(2, p, size=(a.n, a.l)) - 2 * p)
                             / np.sqrt(2 * p * (1 - p)) / np.sqrt(a.l))
    y = G @ rng.standard_normal(a.l) * np.sqrt(0.3) + rng.standard_normal(a.n) * np.sqrt(0.7)
    y += 0.2 * (codes[-1] - codes[-1].mean()) * rng.standard_normal(a.n)
    y = (y - y.mean()) / y.std()
    eng = HLMMClassScan(y, G, 0.3)
    cold = HLMMClassScan(y, G, 0.3, ld=False, M_all=eng.M_all)
    model = hlmm_carriers.CarrierStatsHLMM
    exact_hessian, evaluate = model.hessian, model.evaluate
    count = [0]

    def counted(self, *args, **kw):
        count[0] += 1
        return evaluate(self, *args, **kw)

    model.evaluate = counted
    rows, worst = [], np.zeros(3)
    M = np.empty((a.l, a.l))
    with threadpool_limits(1, user_api="blas"):
        for j, c in enumerate(codes):
            c = c.astype(float)
            moved = rng.random(a.n) < a.uncertain
            g = np.where(moved, np.clip(c + rng.normal(0, 0.3, a.n), 0, 2), c)
            g = np.round(g * 255 / 2) * 2 / 255
            vals, cnt = np.unique(g, return_counts=True)
            carriers = np.flatnonzero(g != vals[np.argmax(cnt)]).astype(np.intp)
            if len(carriers) > a.max_carriers * a.n:
                continue
            out = []
            for e, h in ((eng, exact_hessian), (cold, exact_hessian), (cold, None)):
                model.hessian = h
                count[0] = 0
                t = time.perf_counter()
                r = e.fit_snp_dosage(g)
                out.append((time.perf_counter() - t, count[0], r))
            model.hessian = exact_hessian
            t = time.perf_counter()
            _gram.gram_rows(G, carriers, M)
            floor = time.perf_counter() - t
            (t1, e1, r1), (t2, e2, r2), (t0, e0, r0) = out
            if r1["ok"] != r0["ok"]:
                print(f"SNP {j}: ok differs ({r1['reason']!r} / {r0['reason']!r})")
                continue
            if r1["ok"]:
                worst = np.maximum(worst, [
                    abs(r1["likelihood"] / r0["likelihood"] - 1),
                    max(abs(r1[k] - r0[k]) for k in ("add", "var", "h2")),
                    max(abs(r1[k] / r0[k] - 1) for k in ("add_se", "var_se", "h2_se"))])
                if r2["ok"]:
                    worst = np.maximum(worst, [
                        abs(r1["likelihood"] / r2["likelihood"] - 1),
                        max(abs(r1[k] - r2[k]) for k in ("add", "var", "h2")),
                        max(abs(r1[k] / r2[k] - 1) for k in ("add_se", "var_se", "h2_se"))])
            rows.append((t1, t0, floor, t2))
            print(f"SNP {j}: carriers {len(carriers) / a.n:.2f}; scan's fit {t1 * 1e3:.0f} ms "
                  f"({e1} evaluations), from the HLM start {t2 * 1e3:.0f} ms ({e2}), previous "
                  f"path {t0 * 1e3:.0f} ms ({e0}); carriers' syrk {floor * 1e3:.1f} ms",
                  flush=True)
    R = np.array(rows)
    print(f"{len(R)} SNPs, medians: scan's fit {np.median(R[:, 0]) * 1e3:.0f} ms, from the HLM "
          f"start {np.median(R[:, 3]) * 1e3:.0f} ms, previous path "
          f"{np.median(R[:, 1]) * 1e3:.0f} ms, carriers' syrk {np.median(R[:, 2]) * 1e3:.1f}"
          f" ms; / previous {np.median(R[:, 0] / R[:, 1]):.2f}x, / syrk "
          f"{np.median(R[:, 0] / R[:, 2]):.1f}x (HLM start {np.median(R[:, 3] / R[:, 2]):.1f}x, "
          f"previous {np.median(R[:, 1] / R[:, 2]):.1f}x)")
    print(f"largest differences from the previous path and the HLM start: log-likelihood "
          f"{worst[0]:.1e} relative, estimates "
          f"{worst[1]:.1e}, SEs {worst[2]:.1e} relative")


if __name__ == "__main__":
    main()
