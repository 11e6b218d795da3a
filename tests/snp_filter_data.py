"""Genotypes with missing calls and Hardy–Weinberg departures for the filter tests, made
from uniform draws only (numpy's PCG64 ``random()`` stream is stable across versions, so
the counts plink2 gave on these files stay valid: see test_snp_filters.PLINK2)."""
import numpy as np

N, M = 400, 300


def genotypes():
    u = np.random.default_rng(2026).random((5, N, M))
    p = 0.01 + 0.49 * u[0, 0]                          # allele frequency per SNP
    F = np.where(u[0, 1] < 0.3, 0.6 * u[0, 2], 0.0)     # inbreeding: too few hets
    p2, het = p * p, 2 * p * (1 - p) * (1 - F)
    hom = (1 - het) * p2 / (p2 + (1 - p) ** 2)
    g = np.where(u[1] < hom, 2.0, np.where(u[1] < hom + het, 1.0, 0.0))
    snp_rate = 0.08 * u[0, 3] ** 3                     # missing-call rates per SNP …
    ind_rate = 0.1 * u[2, :, 0] ** 4                   # … and per individual
    g[u[3] < snp_rate[None, :] + ind_rate[:, None]] = np.nan
    y = np.sqrt(-2 * np.log(u[4, :, 0])) * np.cos(2 * np.pi * u[4, :, 1])   # Box–Muller
    return g, y
