"""--threads N caps every thread pool, BLAS's included (issue #20, item 7)."""
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pytest

from clihelp import run, subprocess_env, write_bed, write_table


@pytest.fixture(scope="module")
def hlmm_data(tmp_path_factory):
    rng = np.random.default_rng(11)
    d = tmp_path_factory.mktemp("threads")
    n, m, l = 2500, 12, 1000
    write_bed(d / "g", rng.binomial(2, 0.3, size=(n, m)).astype(float))
    write_bed(d / "r", rng.binomial(2, 0.3, size=(n, l)).astype(float))
    write_table(d / "p.txt", [(f"f{i}", f"i{i}") for i in range(n)],
                rng.standard_normal(n)[:, None])
    return d


def test_threads_1_caps_blas_inside_the_scan(hlmm_data, tmp_path, monkeypatch):
    from threadpoolctl import threadpool_info

    import hlmm.models.hlmm

    seen = []
    fit = hlmm.models.hlmm.HLMM.fit

    def spy(self, *a, **k):
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return fit(self, *a, **k)

    monkeypatch.setattr(hlmm.models.hlmm.HLMM, "fit", spy)
    d = hlmm_data
    run(["chr", d / "g.bed", 0, 2, d / "p.txt", tmp_path / "o", "--random-gts", d / "r.bed",
         "--threads", "1"])
    assert seen and set(seen) == {1}


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: nothing to oversubscribe")
def test_threads_1_uses_one_cpu(hlmm_data, tmp_path):
    """CPU time over wall time of an HLMM scan run with --threads 1 (before the fix
    OpenBLAS spun a thread per core: 1.65 on two cores)."""
    d = hlmm_data
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hlmm.cli.main", "chr", str(d / "g.bed"), "0", "12",
                    str(d / "p.txt"), str(tmp_path / "o"), "--random-gts", str(d / "r.bed"),
                    "--threads", "1"], check=True, capture_output=True,
                   cwd=tmp_path, env=subprocess_env())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu / wall <= 1.2, (cpu, wall)
