"""Files for the --pred tests: a .bed over three chromosomes, phenotypes, covariates and
LOCO files written as REGENIE writes them (test_pred.py, tests/io/test_loco.py)."""
import numpy as np

from clihelp import write_bed, write_table

N, M = 600, 24
CHROMS = ["1"] * 8 + ["2"] * 10 + ["3"] * 6


def write_loco(path, keys, preds, na=None, rows=range(1, 24)):
    """A .loco file as REGENIE's write_ID_header/write_chr_row write it: the FID_IID
    header in std::map order (sorted keys), then ``chr v1 v2 …`` per row with a trailing
    space, ``NA`` where ``na`` (a set of keys) holds the individual; ``preds``: {key:
    23-vector}."""
    order = sorted(keys)
    with open(path, "w") as fh:
        fh.write("FID_IID " + "".join(f"{k} " for k in order) + "\n")
        for c in rows:
            fh.write(f"{c} " + "".join(
                "NA " if na and k in na else f"{preds[k][c - 1]:g} " for k in order) + "\n")
    return str(path)


def make(tmp_path, rng, n_pheno=1):
    d = tmp_path / "src"
    d.mkdir(exist_ok=True)
    # FIDs holding '_': FID_IID cannot be split back, so keys are matched whole
    ids = [(f"fam_{i // 3}", f"i{i}") for i in range(N)]
    dos = rng.binomial(2, rng.uniform(0.1, 0.5, M), size=(N, M)).astype(float)
    bed = write_bed(d / "g", dos, fid=[f for f, _ in ids], iid=[i for _, i in ids])
    bim = (d / "g.bim").read_text().splitlines()
    (d / "g.bim").write_text("".join(
        "\t".join([c] + line.split("\t")[1:]) + "\n" for c, line in zip(CHROMS, bim)))
    keys = [f"{f}_{i}" for f, i in ids]
    covar = rng.standard_normal((N, 2))
    names = [f"Y{p + 1}" for p in range(n_pheno)]
    polygenic = rng.standard_normal((N, n_pheno))
    y = 3.0 + 2.0 * covar[:, :1] + 1.5 * polygenic + rng.standard_normal((N, n_pheno))
    y[rng.choice(N, 10, replace=False), 0] = np.nan
    pheno = write_table(d / "p.txt", ids, y, header=names)
    cov = write_table(d / "c.txt", ids, covar, header=["c1", "c2"])
    locos, lines = {}, []
    for p, name in enumerate(names):
        # (6 significant digits: the values as written, REGENIE's default precision)
        preds = {k: np.array([float(f"{v:g}") for v in
                              polygenic[i, p] + 0.1 * rng.standard_normal(23)])
                 for i, k in enumerate(keys)}
        # step 1 left some individuals out (NA), some are not in the file at all, and the
        # file holds an individual the genotypes lack
        na = set(keys[20:25])
        present = keys[:-7] + ["other_x"]
        preds["other_x"] = np.zeros(23)
        path = write_loco(d / f"step1_{p + 1}.loco", present, preds, na)
        locos[name] = (path, preds, na, set(present))
        lines.append(f"{name} {path}\n")
    pred_list = d / "step1_pred.list"
    pred_list.write_text("".join(lines))
    return {"bed": bed, "pheno": pheno, "covar": cov, "pred": str(pred_list), "ids": ids,
            "keys": keys, "y": y, "covar_values": covar, "names": names, "locos": locos,
            "dir": d}
