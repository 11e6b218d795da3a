"""Benchmark hlmm.HLMM.fit against a plain-numpy version of the same algorithm.

Usage: ``python bench/bench_hlmm.py [--quick] [--n ...] [--l ...] [--q ...]``

Design: X = [1, x] (p = 2), V = [1, v_2, …, v_q], standard Gaussian covariates,
``G = zscore(Binomial(2, ½))·l^-½``, data simulated with h2 = 0.3 (``hlmm.simulate``
plus intercepts).  Columns:

- ``hlmm s``: wall time of ``HLMM.fit`` (HLM start, Newton iterations, SEs), with the
  spectral null path for q = 1 (one thin SVD, then O(l) per evaluation) and the
  general low-rank path for q > 1; for q = 1 the general path is timed too (``gen``).
- ``it``, ``lik``/``grad``: Newton iterations, likelihood and gradient(+Hessian)
  evaluations (each likelihood evaluation of the general path is one syrk plus a
  Cholesky; each gradient+Hessian one triangular solve over G plus one signed Gram
  per non-constant column of V).
- ``eval/syrk``: general-path fit time divided by the number of likelihood
  evaluations, as a multiple of one ``scipy.linalg.blas.dsyrk`` of the n×l matrix.
- ``numpy s``, ``np eval/syrk``: the same for bench/numpy_hlmm.py (general path).
"""
import argparse
import os
import sys

import numpy as np
from scipy.linalg import blas

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # the source tree, built in place
import numpy_hlmm  # noqa: E402
from _timing import best_time  # noqa: E402

import hlmm  # noqa: E402


def make(n, l, q, rng):
    y, X, V, G = hlmm.simulate(n, l, [0.5, 0.3], np.r_[0.0, 0.2 * np.ones(q - 1)], 0.3, rng=rng)
    X[:, 0] = 1.0
    V[:, 0] = 1.0
    return y, X, V, G


def syrk_time(G, repeat):
    Gt = G.T  # Fortran-ordered l×n view: no copy on the way to BLAS
    return best_time(lambda: blas.dsyrk(1.0, Gt, trans=0), repeat)[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 10⁴, l ∈ {100, 500}, q ∈ {1, 3}")
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--l", type=int, nargs="+", default=[100, 500, 1000])
    ap.add_argument("--q", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-numpy", action="store_true", help="skip the numpy reference")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.l, args.q = [10_000], [100, 500], [1, 3]
    rng = np.random.default_rng(1)
    print(f"{'n':>7} {'l':>5} {'q':>2} {'syrk ms':>8} {'hlmm s':>8} {'gen s':>8} {'it':>3} "
          f"{'lik/grad':>8} {'eval/syrk':>9} {'numpy s':>8} {'np eval/syrk':>12} "
          f"{'np/gen':>6} {'|dL|':>7}", flush=True)
    for n in args.n:
        for l in args.l:
            G = None
            for q in args.q:
                y, X, V, G = make(n, l, q, rng)
                t_syrk = syrk_time(G, 3)
                t_h, res = best_time(lambda: hlmm.HLMM(y, X, V, G).fit(), args.repeat)
                if q == 1:
                    t_g, gen = best_time(lambda: hlmm.HLMM(y, X, V, G, method="general").fit(),
                                         args.repeat)
                else:
                    t_g, gen = t_h, res
                assert res.converged and gen.converged
                ev = gen.n_evals
                per = t_g / ev["likelihood"] / t_syrk
                line = (f"{n:>7} {l:>5} {q:>2} {1e3 * t_syrk:8.2f} {t_h:8.3f} {t_g:8.3f} "
                        f"{gen.n_iter:>3} {ev['likelihood']:>4}/{ev['gradient']:<3} {per:9.2f}")
                if args.no_numpy:
                    print(line, flush=True)
                    continue
                t_n, rn = best_time(lambda: numpy_hlmm.fit(y, X, V, G), 1)
                assert rn.converged
                per_n = t_n / rn.n_evals["likelihood"] / t_syrk
                print(f"{line} {t_n:8.3f} {per_n:12.2f} {t_n / t_g:6.2f} "
                      f"{abs(rn.loglik - gen.loglik):7.1e}", flush=True)
            del G


if __name__ == "__main__":
    main()
