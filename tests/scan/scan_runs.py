"""The small HLMM scan run in subprocesses by test_resume.py and test_run_log.py."""
import os
import subprocess
import sys
import time

import pytest

from clihelp import subprocess_env, write_bed, write_table

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


def _interrupt(d, prefix, sig, after=4):
    """Start an HLMM scan, send ``sig`` once ``after`` SNPs are in the partial file."""
    proc = subprocess.Popen(_cmd(d, prefix), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=d["out"], env=subprocess_env())
    partial = str(prefix) + ".models.partial"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        if os.path.exists(partial):
            with open(partial) as fh:
                if fh.read().count("\n") >= after:
                    break
        if proc.poll() is not None:
            pytest.fail("the scan ended before it could be interrupted: " + proc.stderr.read())
        time.sleep(0.005)
    t_sig = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err, time.monotonic() - t_sig
