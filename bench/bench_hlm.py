"""Benchmark hlmm.HLM.fit against a plain-numpy implementation of the same algorithm.

Usage: ``python bench/bench_hlm.py [--n 10000 100000 1000000] [--q 1 5 10] [--repeat 3]``

Designs: p = q, first column of X and V the intercept, the others standard Gaussian;
y simulated with true heteroskedasticity, ``y ~ N(Xα, exp(Vβ))``.  Times are the best of
``--repeat`` runs of the whole fit (start values, Newton iterations, standard errors).
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # the source tree, built in place
import numpy_hlm  # noqa: E402
from _timing import best_time  # noqa: E402

import hlmm  # noqa: E402


def simulate(n, q, rng):
    X = np.empty((n, q))
    X[:, 0] = 1.0
    X[:, 1:] = rng.standard_normal((n, q - 1))
    V = np.empty((n, q))
    V[:, 0] = 1.0
    V[:, 1:] = rng.standard_normal((n, q - 1))
    alpha = rng.normal(0, 0.5, q)
    beta = rng.normal(0, 0.3 / np.sqrt(q), q)
    y = X @ alpha + np.exp(0.5 * (V @ beta)) * rng.standard_normal(n)
    return y, X, V


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--q", type=int, nargs="+", default=[1, 5, 10])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(1)
    print(f"{'n':>9} {'p=q':>4} {'hlmm s':>9} {'it':>3} {'numpy s':>9} {'it':>3} "
          f"{'numpy/hlmm':>10} {'|dloglik|':>9} {'max|dbeta|':>10}")
    for n in args.n:
        for q in args.q:
            y, X, V = simulate(n, q, rng)
            t_h, res = best_time(lambda: hlmm.HLM(y, X, V).fit(), args.repeat)
            t_n, (a, b, ll, it_n, conv) = best_time(lambda: numpy_hlm.fit(y, X, V), args.repeat)
            assert res.converged and conv
            print(f"{n:>9} {q:>4} {t_h:9.4f} {res.n_iter:>3} {t_n:9.4f} {it_n:>3} "
                  f"{t_n / t_h:10.2f} {abs(res.loglik - ll):9.1e} "
                  f"{np.max(np.abs(res.beta - b)):10.1e}", flush=True)


if __name__ == "__main__":
    main()
