"""Small valid inputs of every kind (.bed, .pgen, .bgen, .sample, phenotypes,
covariates), for the hostile-input tests (issue 22) to damage."""
import os

import numpy as np

from clihelp import write_bed, write_pgen, write_table

N, M = 62, 6     # 62 individuals: 2 unused 2-bit slots in each SNP's last .bed byte


def dosages(seed=22):
    rng = np.random.default_rng(seed)
    dos = rng.binomial(2, rng.uniform(0.2, 0.8, M), size=(N, M)).astype(float)
    dos[-1, :] = 1.0            # the last individual heterozygous: .bed code 10, not 00
    return dos


def write_bgen(path, dos, samples=None, rsids=None, alleles=None, positions=None):
    """A BGEN v1.2 (8 bits, zlib) of the hard calls ``dos`` (second allele counted)."""
    import bgen

    n, m = dos.shape
    with bgen.BgenWriter(str(path), n_samples=n, samples=samples or []) as w:
        for j in range(m):
            probs = np.zeros((n, 3))
            probs[np.arange(n), dos[:, j].astype(int)] = 1.0
            w.add_variant(varid=f"v{j}", rsid=(rsids or [f"rs{k}" for k in range(m)])[j],
                          chrom="1", pos=(positions or [1000 + k for k in range(m)])[j],
                          alleles=(alleles or [["G", "A"]] * m)[j], genotypes=probs,
                          ploidy=2, phased=False, bit_depth=8)
    if os.path.exists(str(path) + ".bgi"):
        os.remove(str(path) + ".bgi")
    return str(path)


def write_sample(path, iids, fids=None):
    with open(path, "w") as fh:
        fh.write("ID_1 ID_2 missing\n0 0 0\n")
        for k, i in enumerate(iids):
            fh.write(f"{fids[k] if fids else i} {i} 0\n")
    return str(path)


def make_inputs(d):
    """Every input kind in the directory ``d``; returns their paths."""
    d = str(d)
    dos = dosages()
    ids = [(f"f{i}", f"i{i}") for i in range(N)]
    rng = np.random.default_rng(7)
    paths = {
        "bed": write_bed(os.path.join(d, "geno"), dos, fid=[f for f, _ in ids],
                         iid=[i for _, i in ids]),
        "pgen": write_pgen(os.path.join(d, "pg"), dos, ids),
        "bgen": write_bgen(os.path.join(d, "bg.bgen"), dos, samples=[i for _, i in ids]),
        "pheno": write_table(os.path.join(d, "pheno.txt"), ids, rng.standard_normal((N, 2)),
                             header=["y1", "y2"]),
        "covar": write_table(os.path.join(d, "covar.txt"), ids, rng.standard_normal((N, 1)),
                             header=["c1"]),
    }
    paths["sample"] = write_sample(os.path.join(d, "bg_ids.sample"), [i for _, i in ids])
    with open(os.path.join(d, "keep.txt"), "w") as fh:
        fh.writelines(f"{f} {i}\n" for f, i in ids[:30])
    paths["keep"] = os.path.join(d, "keep.txt")
    with open(os.path.join(d, "extract.txt"), "w") as fh:
        fh.writelines(f"snp{j}\n" for j in range(3))
    paths["extract"] = os.path.join(d, "extract.txt")
    return paths
