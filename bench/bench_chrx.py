"""Calibration of chromosome X scans: null SNPs, a trait whose mean and variance differ
by sex, with and without the automatic sex covariate (``--no-x-sex``), under
``--xchr-model 2`` and ``1``.

    python bench/bench_chrx.py [--n 8000] [--snps 2000] [--seed 1] [--keep DIR]

Half the individuals are male (one X, coded 0/2 or 0/1), allele frequencies uniform on
[0.05, 0.5]; the trait is ``0.5·male + e``, ``sd(e) = 1.4`` in males and 1 in females.
Printed: λ = median(χ²)/0.4549 of ``add_pval``, ``var_pval`` and ``av_pval`` (χ²₂).
Without sex in the model, a genotype whose coding differs by sex (its mean under model
1, its spread under model 2) picks up the sexes' differences.  Under model 1 the default
mode (sex projected out of y only) attenuates ``add`` by var_within-sex(x)/var(x), as
for any covariate correlated with the genotype; ``--fit-covariates`` keeps sex in every
SNP's model.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from clihelp import column, read_models, write_table  # noqa: E402


def lam(p, df=1):
    p = p[np.isfinite(p)]
    return np.median(stats.chi2.isf(10.0 ** -p, df)) / stats.chi2.median(df)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8000)
    ap.add_argument("--snps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep")
    a = ap.parse_args()
    import bed_reader

    rng = np.random.default_rng(a.seed)
    d = a.keep or tempfile.mkdtemp(prefix="bench_chrx_")
    os.makedirs(d, exist_ok=True)
    n, m = a.n, a.snps
    sex = np.where(np.arange(n) % 2 == 0, 1, 2)
    male = sex == 1
    f = rng.uniform(0.05, 0.5, m)
    g = rng.binomial(2, f, size=(n, m)).astype(np.float32)
    g[male] = 2 * rng.binomial(1, f, size=(male.sum(), m))
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    bed = os.path.join(d, "x.bed")
    bed_reader.to_bed(bed, g, properties={
        "fid": [x for x, _ in ids], "iid": [x for _, x in ids],
        "sid": [f"s{j}" for j in range(m)], "chromosome": ["X"] * m,
        "bp_position": list(range(1, m + 1)), "allele_1": ["A"] * m, "allele_2": ["G"] * m,
        "sex": sex})
    y = 0.5 * male + np.where(male, 1.4, 1.0) * rng.standard_normal(n)
    pheno = write_table(os.path.join(d, "p.txt"), ids, y[:, None], header=["Y"])
    print(f"n = {n} (half male), {m} null chrX SNPs; trait: male mean +0.5, SD 1.4 vs 1")
    print(f"{'scan':<34}{'λ add':>8}{'λ var':>8}{'λ av':>8}")
    for model in (2, 1):
        for k, extra in enumerate(([], ["--no-x-sex"], ["--fit-covariates"])):
            label = f"--xchr-model {model} " + (" ".join(extra) or "(sex covariate)")
            out = os.path.join(d, f"o{model}{k}")
            subprocess.run([sys.executable, "-m", "hlmm.cli.main", "chr", bed, pheno, out,
                            "--whole-chr", "--xchr-model", str(model), *extra], check=True,
                           stderr=subprocess.DEVNULL)
            h, rows = read_models(out + ".models.gz")
            print(f"{label:<34}{lam(column(h, rows, 'add_pval')):8.3f}"
                  f"{lam(column(h, rows, 'var_pval')):8.3f}"
                  f"{lam(column(h, rows, 'av_pval'), 2):8.3f}")


if __name__ == "__main__":
    main()
