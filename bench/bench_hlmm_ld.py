"""Benchmark W10 (issue 26): the HLMM class engine on SNPs in linkage disequilibrium.

    python bench/bench_hlmm_ld.py [--n 20000] [--l 500] [--snps 301] [--source msprime]

Genotypes: ``--source msprime`` (``pip install msprime``; n diploids, Ne = 10⁴, 2 Mb,
recombination and mutation rates 1e-8, the first --snps consecutive SNPs with MAF ≥
0.05) or ``--source mosaic`` (the haplotype-copying model of the tests).  G: l
independent standardised binomial SNPs; y: h2 = 0.3 of polygenic signal plus noise.

Per SNP, in this order and within the same pass (the machine is shared): the LD engine
(``HLMMClassScan``, SNPs in order, class Grams updated from the nearest of the recent
SNPs), the direct engine (``ld=False``: one syrk of the carriers' rows per SNP, the
previous path) and the floor (that syrk alone, ``_gram.gram_rows`` over the rows
outside the largest class).  BLAS on one thread.  Prints the summed times, the ratios
to the floor and to the direct engine, the fraction of individuals moved, and the
largest differences between the two engines' fits (they must agree: log-likelihood
1e-7 relative, estimates 1e-6).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def msprime_codes(n, snps, seed, cache_dir):
    path = os.path.join(cache_dir, f"msprime_ld_{n}_{seed}.npy")
    if os.path.exists(path):
        return np.load(path)[:snps]
    import msprime

    ts = msprime.sim_ancestry(samples=n, population_size=10_000, sequence_length=2e6,
                              recombination_rate=1e-8, ploidy=2, random_seed=seed)
    ts = msprime.sim_mutations(ts, rate=1e-8, random_seed=seed,
                               model=msprime.BinaryMutationModel())
    out = []
    for var in ts.variants():
        h = var.genotypes
        g = (h[0::2] + h[1::2]).astype(np.int8)   # diploid: consecutive sample nodes
        f = g.mean() / 2
        if 0.05 <= f <= 0.95:
            out.append(g)
        if len(out) >= 400:
            break
    codes = np.array(out, dtype=np.int8)
    os.makedirs(cache_dir, exist_ok=True)
    np.save(path, codes)
    return codes[:snps]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--l", type=int, default=500)
    ap.add_argument("--snps", type=int, default=301)
    ap.add_argument("--source", choices=("msprime", "mosaic"), default="msprime")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ld-snps", type=int, default=None, help="LD cache capacity")
    ap.add_argument("--dir", default="/tmp/hlmm-bench")
    a = ap.parse_args()
    from threadpoolctl import threadpool_limits

    from hlmm._core import _gram
    from hlmm.models.hlmm import HLMM
    from hlmm.scan.class_engines import HLMMClassScan

    if a.source == "msprime":
        codes = msprime_codes(a.n, a.snps, a.seed, a.dir)
    else:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
        from ld_mosaic import mosaic_codes

        codes = mosaic_codes(a.n, a.snps, np.random.default_rng(a.seed))
    rng = np.random.default_rng(a.seed + 1)
    p = rng.uniform(0.05, 0.5, a.l)
    R = rng.binomial(2, p, size=(a.n, a.l)).astype(float)
    G = np.ascontiguousarray((R - 2 * p) / np.sqrt(2 * p * (1 - p)) / np.sqrt(a.l))
    del R
    y = G @ rng.standard_normal(a.l) * np.sqrt(0.3) + rng.standard_normal(a.n) * np.sqrt(0.7)
    y = (y - y.mean()) / y.std()
    ones = np.ones((a.n, 1))
    h2 = HLMM(y, ones, ones, G).fit(h2_init=0.3, h2_min=1e-5).h2   # the null model's, as a scan
    fast = HLMMClassScan(y, G, h2, ld_snps=a.ld_snps)
    direct = HLMMClassScan(y, G, h2, ld=False, M_all=fast.M_all)
    print(f"{a.source}: n = {a.n}, l = {a.l}, {len(codes)} SNPs; LD cache "
          f"{fast._ld_cache(fast._Y1, fast._S1).capacity} SNPs")
    t_ld, t_dir, t_floor, worst = [], [], [], np.zeros(3)
    floor_out = np.empty((a.l, a.l))
    with threadpool_limits(1, user_api="blas"):
        for j, c in enumerate(codes):
            t = time.perf_counter()
            r1 = fast.fit_snp(c)
            t_ld.append(time.perf_counter() - t)
            t = time.perf_counter()
            r0 = direct.fit_snp(c)
            t_dir.append(time.perf_counter() - t)
            counts = np.bincount(c.astype(np.intp) + 1, minlength=4)
            rows = np.flatnonzero(c != np.argmax(counts[1:])).astype(np.intp)
            t = time.perf_counter()
            _gram.gram_rows(G, rows, floor_out)
            t_floor.append(time.perf_counter() - t)
            if r0["ok"] != r1["ok"]:
                print(f"SNP {j}: ok differs ({r0['reason']!r} / {r1['reason']!r})")
            elif r0["ok"]:
                worst[0] = max(worst[0], abs(r1["likelihood"] / r0["likelihood"] - 1))
                worst[1] = max(worst[1], max(abs(r1[k] - r0[k]) for k in
                                             ("add", "var", "h2")))
                worst[2] = max(worst[2], max(abs(r1[k] - r0[k]) for k in
                                             ("add_se", "var_se")))
    t_ld, t_dir, t_floor = map(np.array, (t_ld, t_dir, t_floor))
    cnt = fast.ld_counts()
    print(f"Grams: {cnt['updated']} updated, {cnt['direct']} direct, "
          f"{cnt['drift']} recomputed after the drift check")
    print(f"per SNP: LD engine {t_ld.mean() * 1e3:.1f} ms, direct engine "
          f"{t_dir.mean() * 1e3:.1f} ms, carriers' syrk floor {t_floor.mean() * 1e3:.1f} ms")
    print(f"LD engine / floor: {t_ld.sum() / t_floor.sum():.3f}x (sum); direct engine / "
          f"floor: {t_dir.sum() / t_floor.sum():.3f}x; LD / direct: "
          f"{t_ld.sum() / t_dir.sum():.3f}x")
    print(f"largest differences LD vs direct: log-likelihood {worst[0]:.1e} relative, "
          f"estimates {worst[1]:.1e}, SEs {worst[2]:.1e}")


if __name__ == "__main__":
    main()
