"""Helpers shared by the CLI tests: run the click app in-process, read outputs."""
import gzip

import numpy as np
from click.testing import CliRunner

from hlmm.cli.main import main


def run(args, expect_ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if expect_ok:
        assert result.exit_code == 0, result.output
    return result


def read_models(path):
    """The models table as (header, rows of str); reads gzip or plain text."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rt") as fh:
        lines = fh.read().splitlines()
    header = lines[0].split("\t")
    rows = [line.split("\t") for line in lines[1:]]
    return header, rows


def column(header, rows, name):
    """A numeric column; ``NA`` (hlmm's missing value) and ``nan`` (the original's) → NaN."""
    j = header.index(name)
    return np.array([np.nan if r[j] == "NA" else float(r[j]) for r in rows])


def write_bed(prefix, dosages, fid=None, iid=None, seed=0):
    """A .bed/.bim/.fam from an n × m dosage matrix (A1 counts; NaN = missing)."""
    import bed_reader

    n, m = dosages.shape
    props = {
        "fid": fid if fid is not None else [f"f{i}" for i in range(n)],
        "iid": iid if iid is not None else [f"i{i}" for i in range(n)],
        "sid": [f"snp{j}" for j in range(m)],
        "chromosome": ["1"] * m,
        "bp_position": list(range(1000, 1000 + m)),
        "allele_1": ["A"] * m,
        "allele_2": ["G"] * m,
    }
    bed_reader.to_bed(str(prefix) + ".bed", dosages.astype(np.float32), properties=props)
    return str(prefix) + ".bed"


def write_table(path, ids, values, header=None, missing="NA"):
    with open(path, "w") as fh:
        if header is not None:
            fh.write(" ".join(["FID", "IID"] + list(header)) + "\n")
        for (f, i), row in zip(ids, np.atleast_2d(values)):
            vals = [missing if np.isnan(v) else repr(float(v)) for v in np.atleast_1d(row)]
            fh.write(" ".join([f, i] + vals) + "\n")
    return str(path)
