"""`hlmm chr` on a real dask.distributed cluster (scheduler and worker processes)."""
import os
import signal
import sys

import numpy as np
import pytest

from clihelp import run, write_bed, write_table

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(11)
    d = tmp_path_factory.mktemp("dask")
    n, m = 3000, 240
    dos = rng.binomial(2, rng.uniform(0.05, 0.5, m), size=(n, m)).astype(float)
    dos[rng.random((n, m)) < 0.01] = np.nan
    bed = write_bed(d / "geno", dos)
    ids = [(f"f{i}", f"i{i}") for i in range(n)]
    pheno = write_table(d / "pheno.txt", ids, rng.standard_normal((n, 1)))
    covar = write_table(d / "covar.txt", ids, rng.standard_normal((n, 1)), header=["c"])
    return {"bed": bed, "pheno": pheno, "covar": covar, "m": m, "dir": d}


def args(data, out, *extra):
    return ["chr", data["bed"], 0, data["m"], data["pheno"], out, "--block-size", "10",
            "--mean-covar", data["covar"], *extra]


@pytest.fixture(scope="module")
def local_result(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "res"
    run(args(data, out, "--threads", "1"))
    return open(f"{out}.models.gz", "rb").read()


@pytest.fixture
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        yield c


def test_local_dask_workers_give_identical_bytes(data, tmp_path, local_result):
    out = tmp_path / "res"
    run(args(data, out, "--dask-workers", "2"))
    assert open(f"{out}.models.gz", "rb").read() == local_result
    assert "Dask: 2 worker(s)" in open(f"{out}.log").read()


def test_existing_scheduler(data, tmp_path, cluster, local_result):
    out = tmp_path / "res"
    run(args(data, out, "--dask-scheduler", cluster.scheduler_address))
    assert open(f"{out}.models.gz", "rb").read() == local_result


def test_worker_killed_mid_scan_loses_and_duplicates_nothing(data, tmp_path, cluster,
                                                             local_result):
    from hlmm.scan.genome_scan import ScanConfig
    from hlmm.scan.run import run_scan

    client = distributed.Client(cluster)
    killed = []

    class KillOnFirstUpdate:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, k):
            if not killed:
                pids = client.run(os.getpid)
                addr, pid = sorted(pids.items())[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(addr)

    out = tmp_path / "res"
    cfg = ScanConfig(genofile=data["bed"], start=0, end=data["m"], phenofile=data["pheno"],
                     outprefix=str(out), mean_covar=data["covar"], block_size=10,
                     dask_scheduler=cluster.scheduler_address)
    try:
        run_scan(cfg, progress=lambda total: KillOnFirstUpdate())
    finally:
        client.close()
    assert killed, "no worker was killed: the test did not exercise recovery"
    assert open(f"{out}.models.gz", "rb").read() == local_result


def test_without_dask_installed_the_option_says_what_to_install(data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    res = run(args(data, tmp_path / "res", "--dask-workers", "2"), expect_ok=False)
    assert res.exit_code != 0
    assert "pip install 'hlmm[dask]'" in res.output.strip().splitlines()[-1]
    assert os.listdir(tmp_path) == []


def test_many_phenotypes_on_dask_equal_the_local_run(data, tmp_path):
    rng = np.random.default_rng(5)
    ids = [(f"f{i}", f"i{i}") for i in range(3000)]
    Y = rng.standard_normal((3000, 3))
    Y[rng.random(3000) < 0.05, 1] = np.nan
    pheno = write_table(tmp_path / "multi.txt", ids, Y, header=["P1", "P2", "P3"])
    base = ["chr", data["bed"], 0, data["m"], pheno]
    run(base + [tmp_path / "loc", "--all-pheno", "--block-size", "40", "--threads", "1"])
    run(base + [tmp_path / "dk", "--all-pheno", "--block-size", "40", "--dask-workers", "2"])
    for p in ("P1", "P2", "P3"):
        assert (open(tmp_path / f"dk.{p}.models.gz", "rb").read()
                == open(tmp_path / f"loc.{p}.models.gz", "rb").read())
