"""The small HLMM scan run in subprocesses by test_resume.py and test_run_log.py."""
import sys

import pytest

from clihelp import write_bed, write_table

N, M = 1500, 40


@pytest.fixture
def data(tmp_path, rng):
    src = tmp_path / "src"
    src.mkdir()
    dos = rng.binomial(2, rng.uniform(0.1, 0.5, M), size=(N, M)).astype(float)
    bed = write_bed(src / "g", dos)
    ids = [(f"f{i}", f"i{i}") for i in range(N)]
    pheno = write_table(src / "p.txt", ids, rng.standard_normal((N, 1)))
    covar = write_table(src / "c.txt", ids, rng.standard_normal((N, 1)))
    rbed = write_bed(src / "r", rng.binomial(2, 0.3, size=(N, 150)).astype(float))
    out = tmp_path / "out"
    out.mkdir()
    return {"bed": bed, "pheno": pheno, "covar": covar, "rbed": rbed, "out": out, "src": src}


def _cmd(d, prefix, *extra):
    # run from the output folder: `python -m` puts the working directory on sys.path,
    # and the checkout's unbuilt source tree must not shadow the installed package
    return [sys.executable, "-m", "hlmm.cli.main", "chr", d["bed"], "0", str(M), d["pheno"],
            str(prefix), "--random-gts", d["rbed"], "--block-size", "1", "--threads", "1",
            *map(str, extra)]
