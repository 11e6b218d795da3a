"""Helpers shared by the CLI tests: run the click app in-process, read outputs."""
import gzip
import os

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


def assert_clean_failure(result, out_dir, *needles):
    assert result.exit_code != 0
    text = result.output.strip()
    assert "Traceback" not in text
    last = text.splitlines()[-1]
    assert last.startswith("Error"), text
    for needle in needles:
        assert needle in last, (needle, last)
    assert os.listdir(out_dir) == [], os.listdir(out_dir)


def write_pgen(prefix, dos, ids, dosages=False):
    """A .pgen/.pvar/.psam with ALT = 'A' counted (the .bed's A1), REF = 'G'."""
    import pgenlib

    n, m = dos.shape
    w = pgenlib.PgenWriter(f"{prefix}.pgen".encode(), n, m, False, dosage_present=dosages)
    for j in range(m):
        if dosages:
            w.append_dosages(np.where(np.isnan(dos[:, j]), -9, dos[:, j]).astype(np.float32))
        else:
            w.append_biallelic(np.where(np.isnan(dos[:, j]), -9, dos[:, j]).astype(np.int8))
    w.close()
    with open(f"{prefix}.pvar", "w") as fh:
        fh.write("#CHROM\tPOS\tID\tREF\tALT\n")
        for j in range(m):
            fh.write(f"1\t{1000 + j}\tsnp{j}\tG\tA\n")
    with open(f"{prefix}.psam", "w") as fh:
        fh.write("#FID\tIID\n")
        for f, i in ids:
            fh.write(f"{f}\t{i}\n")
    return f"{prefix}.pgen"


# REGENIE's example files (tests/data/regenie/README.md)
REGENIE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "regenie")


def subprocess_env():
    """The environment for a ``python -m hlmm…`` subprocess that runs the hlmm these tests
    import (the installed package in CI, a built checkout in development): its parent
    folder first on PYTHONPATH.  Run such subprocesses from a folder without an unbuilt
    ``hlmm`` source tree in it (``python -m`` puts the working directory first)."""
    import hlmm

    here = os.path.dirname(os.path.dirname(os.path.abspath(hlmm.__file__)))
    return dict(os.environ, PYTHONPATH=here + os.pathsep + os.environ.get("PYTHONPATH", ""))
