"""OUTPREFIX.log as the run goes (issue #20, items 8 and 11): a killed scan still records
its samples and null model; the log names the version, start and finish times."""
import signal

import hlmm
from clihelp import run
from scan_runs import M, _interrupt, data  # noqa: F401 (the fixture)


def test_sigterm_leaves_a_log_with_the_sample_null_model_and_the_stop(data):
    d = data
    prefix = d["out"] / "cut"
    code, err, _ = _interrupt(d, prefix, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM
    log = (d["out"] / "cut.log").read_text()
    assert f"hlmm {hlmm.__version__}" in log.splitlines()[0]
    assert "Individuals in" in log and "Null HLM: log-likelihood" in log
    assert "Null h2:" in log
    last = log.strip().splitlines()[-1]
    assert last.startswith("Interrupted by SIGTERM after ") and f" of {M} SNPs" in last
    done = (d["out"] / "cut.models.partial").read_text().count("\n")
    assert f"after {done} of {M} SNPs" in last
    assert "Finished:" not in log and not (d["out"] / "cut.models.gz").exists()


def test_finished_log_has_version_and_times_and_no_stop_line(data):
    d = data
    run(["chr", d["bed"], 0, 5, d["pheno"], d["out"] / "ok"])
    lines = (d["out"] / "ok.log").read_text().splitlines()
    assert lines[0] == f"hlmm {hlmm.__version__}"
    assert any(ln.startswith("Started: ") for ln in lines)
    assert lines[-1].startswith("Finished: ")
    assert not any(ln.startswith(("Interrupted", "Stopped")) for ln in lines)
    assert sorted(p.name for p in d["out"].iterdir()) == ["ok.log", "ok.models.gz"]


def test_append_keeps_the_earlier_log_above_a_running_one(data):
    d = data
    run(["chr", d["bed"], 0, 5, d["pheno"], d["out"] / "ap"])
    first = (d["out"] / "ap.log").read_text()
    run(["chr", d["bed"], 5, 10, d["pheno"], d["out"] / "ap", "--append"])
    both = (d["out"] / "ap.log").read_text()
    assert both.startswith(first) and both.count("Finished: ") == 2


def test_input_error_during_setup_leaves_the_earlier_log_alone(data):
    d = data
    run(["chr", d["bed"], 0, 5, d["pheno"], d["out"] / "keep"])
    before = (d["out"] / "keep.log").read_text()
    res = run(["chr", d["bed"], 0, 5, d["pheno"], d["out"] / "keep", "--h2-init", "2"],
              expect_ok=False)
    assert res.exit_code != 0
    assert (d["out"] / "keep.log").read_text() == before
