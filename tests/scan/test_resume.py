"""Scans that survive interruption: kill -9 and SIGTERM mid-scan then --resume give the
uninterrupted table; fingerprints, --append checks, the prefix lock, stale outputs,
faults (prefix, full disk, overflowing phenotype) and batch progress lines."""
import errno
import gzip
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from clihelp import run, write_table
from clihelp import assert_clean_failure, subprocess_env
from scan_runs import M, N, _cmd, _interrupt, data  # noqa: F401 (data: the fixture)



def _table(path):
    with gzip.open(path, "rb") as fh:
        return fh.read()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_interrupted_hlmm_scan_resumes_to_the_same_table(data, sig):
    d = data
    full = subprocess.run(_cmd(d, d["out"] / "full"), capture_output=True, text=True,
                          cwd=d["out"], env=subprocess_env())
    assert full.returncode == 0, full.stderr
    code, err, took = _interrupt(d, d["out"] / "cut", sig)
    assert code != 0
    if sig == signal.SIGTERM:
        assert code == 128 + signal.SIGTERM and took < 10
        last = err.strip().splitlines()[-1]
        assert "interrupted by SIGTERM" in last and "--resume" in last and "Traceback" not in err
    partial = d["out"] / "cut.models.partial"
    assert partial.exists() and not (d["out"] / "cut.models.gz").exists()
    assert not (d["out"] / "cut.lock").exists() or sig == signal.SIGKILL
    done = partial.read_text().count("\n")
    assert 0 < done < M
    res = subprocess.run(_cmd(d, d["out"] / "cut", "--resume"), capture_output=True,
                         text=True, cwd=d["out"], env=subprocess_env())
    assert res.returncode == 0, res.stderr
    assert _table(d["out"] / "cut.models.gz") == _table(d["out"] / "full.models.gz")
    assert not partial.exists() and not (d["out"] / "cut.resume").exists()
    log = (d["out"] / "cut.log").read_text()
    assert f"Resumed: {done} SNPs kept" in log


def test_resume_refuses_changed_inputs_and_nothing_to_resume(data):
    d = data
    code, _, _ = _interrupt(d, d["out"] / "x", signal.SIGKILL, after=2)
    with open(d["pheno"], "a") as fh:
        fh.write("extra row 1.0\n")
    res = run(["chr", d["bed"], 0, M, d["pheno"], d["out"] / "x", "--random-gts", d["rbed"],
               "--block-size", "1", "--threads", "1", "--resume"], expect_ok=False)
    assert res.exit_code != 0 and "differs from this command" in res.output
    assert "p.txt" in res.output.strip().splitlines()[-1]
    res = run(["chr", d["bed"], 0, M, d["pheno"], d["out"] / "y", "--resume"], expect_ok=False)
    assert res.exit_code != 0 and "no unfinished run" in res.output


def test_append_is_checked(data):
    d = data
    run(["chr", d["bed"], 0, 10, d["pheno"], d["out"] / "a"])
    run(["chr", d["bed"], 10, 20, d["pheno"], d["out"] / "a", "--append"])
    with gzip.open(d["out"] / "a.models.gz", "rt") as fh:
        assert len(fh.read().splitlines()) == 21
    res = run(["chr", d["bed"], 15, 25, d["pheno"], d["out"] / "a", "--append"],
              expect_ok=False)
    assert res.exit_code != 0 and "already holds SNP snp15" in res.output
    res = run(["chr", d["bed"], 25, 30, d["pheno"], d["out"] / "a", "--append",
               "--brown-forsythe"], expect_ok=False)
    assert res.exit_code != 0 and "other columns" in res.output
    (d["out"] / "b.models.gz").write_bytes(b"\x1f\x8bnot really gzip")
    res = run(["chr", d["bed"], 0, 5, d["pheno"], d["out"] / "b", "--append"], expect_ok=False)
    assert res.exit_code != 0 and "not a readable gzip table" in res.output


def test_prefix_lock(data):
    from hlmm.scan.checkpoint import PrefixLock

    d = data
    lock = PrefixLock(str(d["out"] / "busy"))
    try:
        res = run(["chr", d["bed"], 0, 5, d["pheno"], d["out"] / "busy"], expect_ok=False)
        assert res.exit_code != 0 and "another hlmm run is writing" in res.output
        assert not (d["out"] / "busy.models.gz").exists()
    finally:
        lock.release()
    run(["chr", d["bed"], 0, 5, d["pheno"], d["out"] / "busy"])
    assert not (d["out"] / "busy.lock").exists()


def test_stale_outputs_of_another_configuration_are_removed(data):
    d = data
    run(["chr", d["bed"], 0, 5, d["pheno"], d["out"] / "s", "--mean-covar", d["covar"],
         "--random-gts", d["rbed"]])
    assert (d["out"] / "s.null_mean_effects.txt").exists()
    assert (d["out"] / "s.null_h2.txt").exists()
    run(["chr", d["bed"], 0, 5, d["pheno"], d["out"] / "s"])
    assert not (d["out"] / "s.null_mean_effects.txt").exists()
    assert not (d["out"] / "s.null_h2.txt").exists()
    assert sorted(os.listdir(d["out"])) == ["s.log", "s.models.gz"]


@pytest.mark.parametrize("case", ["no_dir", "is_dir"])
def test_bad_output_prefix(data, case):
    d = data
    prefix = d["out"] / "missing" / "x" if case == "no_dir" else d["out"]
    res = run(["chr", d["bed"], 0, 5, d["pheno"], prefix], expect_ok=False)
    assert_clean_failure(res, d["out"], "OUTPREFIX")


def _run_with_failing_write(monkeypatch, args, err, at=3):
    """Run the CLI with the ``at``-th flush of the partial results failing (``err``)."""
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] == at:
            raise OSError(err, os.strerror(err))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setenv("HLMM_SYNC_INTERVAL", "0")      # every block is synced
    try:
        return run(args, expect_ok=False)
    finally:
        monkeypatch.setattr(os, "fsync", real_fsync)


def test_full_disk_keeps_partial_results_resumable(data, monkeypatch):
    d = data
    args = ["chr", d["bed"], 0, M, d["pheno"], d["out"] / "f", "--block-size", "7"]
    res = _run_with_failing_write(monkeypatch, args, errno.ENOSPC)
    last = res.output.strip().splitlines()[-1]
    assert res.exit_code != 0 and "disk is full" in last and "--resume" in last
    assert (d["out"] / "f.models.partial").exists()
    run(args + ["--resume"])
    run(["chr", d["bed"], 0, M, d["pheno"], d["out"] / "g"])
    assert _table(d["out"] / "f.models.gz") == _table(d["out"] / "g.models.gz")


def test_a_failing_write_is_one_line(data):
    """The write itself fails (a full disk at the write, not at the flush): a one-line
    error, no traceback at close, and with no SNP done no checkpoint left behind."""
    d = data
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    os.symlink("/dev/full", d["out"] / "w.models.partial.rows")
    res = run(["chr", d["bed"], 0, M, d["pheno"], d["out"] / "w", "--block-size", "7",
               "--threads", "1"], expect_ok=False)
    assert_clean_failure(res, d["out"], "disk is full", "--resume")
    assert "Traceback" not in res.output
    assert not list(d["out"].glob("w.*"))


def test_overflowing_phenotype_is_one_line(data):
    d = data
    y = np.loadtxt(d["pheno"], usecols=2) * 1e200
    big = write_table(d["src"] / "big.txt", [(f"f{i}", f"i{i}") for i in range(N)], y[:, None])
    res = run(["chr", d["bed"], 0, 5, big, d["out"] / "o"], expect_ok=False)
    assert_clean_failure(res, d["out"], "overflows", "rescale")


def test_batch_progress_lines(data):
    d = data
    env = {**subprocess_env(), "HLMM_PROGRESS_INTERVAL": "0"}
    res = subprocess.run([sys.executable, "-m", "hlmm.cli.main", "chr", d["bed"], "0", str(M),
                          d["pheno"], str(d["out"] / "pr"), "--block-size", "5",
                          "--threads", "1"], capture_output=True, text=True, env=env,
                         cwd=d["out"])
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if "SNPs/s" in ln]
    assert lines and f"/{M} SNPs" in lines[0] and "left" in lines[0]


def test_resume_on_a_dask_cluster(data, monkeypatch):
    """A run stopped after two blocks (a write failure) resumes on a Dask cluster."""
    pytest.importorskip("distributed")
    d = data
    args = ["chr", d["bed"], 0, M, d["pheno"], d["out"] / "dk", "--block-size", "6"]
    res = _run_with_failing_write(monkeypatch, args, errno.EIO)
    assert res.exit_code != 0 and "--resume" in res.output
    run(args + ["--resume", "--dask-workers", "1", "--threads", "1"])
    run(["chr", d["bed"], 0, M, d["pheno"], d["out"] / "dref", "--block-size", "6"])
    assert _table(d["out"] / "dk.models.gz") == _table(d["out"] / "dref.models.gz")


def test_interrupted_append_resumes_without_losing_rows(data, monkeypatch):
    d = data
    run(["chr", d["bed"], 0, 10, d["pheno"], d["out"] / "ap"])
    args = ["chr", d["bed"], 10, M, d["pheno"], d["out"] / "ap", "--append", "--block-size", "5"]
    res = _run_with_failing_write(monkeypatch, args, errno.ENOSPC)
    assert res.exit_code != 0
    res = run(["chr", d["bed"], 10, M, d["pheno"], d["out"] / "ap", "--block-size", "5"],
              expect_ok=False)       # a plain rerun would lose the unfinished rows
    assert res.exit_code != 0 and "add --resume" in res.output
    run(args + ["--resume"])
    run(["chr", d["bed"], 0, M, d["pheno"], d["out"] / "apref"])
    assert _table(d["out"] / "ap.models.gz") == _table(d["out"] / "apref.models.gz")


def test_fingerprint_covers_a_bare_plink_prefix(data, monkeypatch, rng):
    d = data
    prefix = d["bed"][:-4]
    args = ["chr", prefix, 0, M, d["pheno"], d["out"] / "bp", "--block-size", "5"]
    _run_with_failing_write(monkeypatch, args, errno.EIO)
    raw = bytearray(open(d["bed"], "rb").read())
    raw[-1] ^= 0xFF                                     # same size, other genotypes
    time.sleep(0.01)
    open(d["bed"], "wb").write(bytes(raw))
    res = run(args + ["--resume"], expect_ok=False)
    assert res.exit_code != 0 and "g.bed" in res.output


def test_lock_taken_on_an_unlinked_file_is_retried(data, monkeypatch):
    import fcntl

    from hlmm.scan.checkpoint import PrefixLock

    prefix = str(data["out"] / "race")
    first = PrefixLock(prefix)
    real_flock = fcntl.flock
    calls = {"n": 0}

    def flock(fd, op):
        calls["n"] += 1
        if calls["n"] == 1:
            first.release()      # the holder finishes between our open and our flock
        return real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    second = PrefixLock(prefix)
    monkeypatch.setattr(fcntl, "flock", real_flock)
    assert os.stat(second.path).st_ino == os.fstat(second.fd).st_ino
    with pytest.raises(Exception, match="another hlmm run"):
        PrefixLock(prefix)
    second.release()


def test_append_refuses_other_standard_errors(data):
    d = data
    run(["chr", d["bed"], 0, 5, d["pheno"], d["out"] / "se"])
    res = run(["chr", d["bed"], 5, 10, d["pheno"], d["out"] / "se", "--append", "--robust"],
              expect_ok=False)
    assert res.exit_code != 0 and "same --robust setting" in res.output


def test_failed_run_leaves_no_checkpoint(data):
    pytest.importorskip("distributed")
    d = data
    res = run(["chr", d["bed"], 0, 5, d["pheno"], d["out"] / "fl", "--dask-scheduler",
               "tcp://127.0.0.1:1"], expect_ok=False)
    assert res.exit_code != 0
    assert os.listdir(d["out"]) == []


def test_resume_and_append_refuse_tables_without_the_new_columns(data):
    """A partial file or a table of an hlmm without a1_freq and status is refused, not
    mixed with rows of the new columns."""
    d = data
    old_cols = ("SNP n frequency likelihood add add_se add_t add_pval var var_se var_t "
                "var_pval av_pval chrom pos a1 a2").split()
    row = "\t".join(["snp0", "100", "0.3", "-1.0"] + ["0.1"] * 9 + ["1", "1", "A", "G"])
    (d["out"] / "old.models.partial").write_text(f"ok\t{row}\n")
    (d["out"] / "old.resume").write_text("{}")
    res = run(["chr", d["bed"], 0, 10, d["pheno"], d["out"] / "old", "--resume"],
              expect_ok=False)
    assert res.exit_code != 0 and "holds whole rows (of 17 columns)" in res.output
    assert len(res.output.strip().splitlines()) == 1
    with gzip.open(d["out"] / "oldt.models.gz", "wt") as fh:
        fh.write("\t".join(old_cols) + "\n" + row + "\n")
    res = run(["chr", d["bed"], 10, 20, d["pheno"], d["out"] / "oldt", "--append"],
              expect_ok=False)
    assert res.exit_code != 0 and "without the a1_freq and status columns" in res.output


def test_partial_keeps_the_rows_of_complete_status_lines(tmp_path):
    """A kill can leave the rows file ahead of the status lines (a block's record
    written, its statuses not, or a record cut short), and a machine crash the status
    lines ahead of the rows: --resume keeps the SNPs whose status lines and rows are
    both whole (a record cut within a block is cut to them), and the table is that of an
    unbroken run; the rows' file and the status lines agree afterwards."""
    import gzip

    from hlmm.io.output import pack_block, read_records, write_table
    from hlmm.scan.checkpoint import Partial

    blocks = [b"".join(f"ok\trs{j}\t{j}\t0.5\n".encode() for j in range(a, b))
              for a, b in ((0, 3), (3, 5), (5, 9))]
    want = b"h\n" + b"".join(b"".join(ln.split(b"\t", 1)[1] for ln in
                                      blk.splitlines(keepends=True)) for blk in blocks)
    fp = {"options": {"x": 1}, "files": []}

    def run(cut_rows, cut_keys):
        """Two blocks written, then the third's rows and keys cut short."""
        prefix = str(tmp_path / f"o{cut_rows}_{cut_keys}")
        part = Partial(prefix)
        part.start(fp, resume=False)
        for lines in blocks[:2]:
            part.append(*pack_block(lines))
        record, keys = pack_block(blocks[2])
        part.rows_fh.write(record[:cut_rows])
        part.fh.write(keys[:cut_keys])
        part.close()
        again = Partial(prefix)
        again.start(fp, resume=True)
        return again

    full = len(pack_block(blocks[2])[0])
    # (the last: the status lines ahead of the rows, as after a machine crash)
    for cut_rows, cut_keys, kept in [(full // 2, 0, 5), (full // 2, 6, 5), (full, 0, 5),
                                     (full, 14, 7), (full, 100, 9), (0, 14, 5)]:
        again = run(cut_rows, cut_keys)
        assert again.kept == [f"rs{j}" for j in range(kept)], (cut_rows, cut_keys)
        with open(again.rows_path, "rb") as fh:       # the files agree
            assert sum(r[1] for r in read_records(fh)) == kept
        with open(again.path, "rb") as fh:
            assert fh.read().count(b"\n") == kept
        if kept < 9:
            again.append(*pack_block(b"".join(
                b"".join(blocks).splitlines(keepends=True)[kept:])))
        again.close()
        counts, _, _ = write_table(again.path, again.rows_path, tmp_path / "t.gz", b"h\n")
        assert counts["ok"] == 9
        assert gzip.decompress((tmp_path / "t.gz").read_bytes()) == want
        (tmp_path / "t.gz").unlink()
