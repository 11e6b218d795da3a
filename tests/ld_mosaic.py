"""Genotypes in linkage disequilibrium from a haplotype-copying (Li–Stephens-like) mosaic.

``n_founders`` founder haplotypes: at the first SNP independent alleles of frequency
``maf``-uniform, then each founder's allele at the next SNP is its allele at this one,
redrawn with probability ``turnover``.  Every sample haplotype copies one founder,
switching to a uniformly drawn one with probability ``switch`` between consecutive SNPs
and miscopying an allele with probability ``miscopy``.  Neighbouring SNPs then put most
individuals in the same genotype class (and distant ones in unrelated classes).
"""
import numpy as np


def mosaic_codes(n, snps, rng, n_founders=40, switch=0.02, miscopy=0.005, turnover=0.1,
                 maf=(0.05, 0.5)):
    """(snps, n) int8 genotype classes 0, 1, 2 of n diploids."""
    freq = rng.uniform(maf[0], maf[1], snps)
    founders = np.empty((snps, n_founders), dtype=np.int8)
    founders[0] = rng.random(n_founders) < freq[0]
    for j in range(1, snps):
        redraw = rng.random(n_founders) < turnover
        founders[j] = np.where(redraw, rng.random(n_founders) < freq[j], founders[j - 1])
    for j in range(snps):                  # no monomorphic founders' SNP
        if founders[j].min() == founders[j].max():
            founders[j, rng.integers(n_founders)] ^= 1
    src = rng.integers(0, n_founders, 2 * n)
    out = np.empty((snps, n), dtype=np.int8)
    for j in range(snps):
        jump = rng.random(2 * n) < switch
        src[jump] = rng.integers(0, n_founders, int(jump.sum()))
        h = founders[j, src] ^ (rng.random(2 * n) < miscopy)
        out[j] = h[0::2] + h[1::2]
    return out
