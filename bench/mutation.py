"""Mutation testing of hlmm's statistics and data handling: do the tests fail when the
code is wrong?

Each mutation below is a one-line change of the kind a real bug looks like (``<`` for
``<=``, a dropped factor, swapped arguments, a left-out option).  It is applied to a
temporary copy of the tree, and the tests that should catch it are run there: the
mutation's own subset (test files or ``file::test`` ids, so the whole run takes minutes),
or with ``--full`` the whole suite.  A mutation is *killed* when those tests fail (or
cannot be collected), *survives* when they pass.  A surviving mutation is a missing test:
what it changes, users would get unnoticed.

    python bench/mutation.py                 # every mutation, its own tests
    python bench/mutation.py --full          # the whole suite per mutation (hours)
    python bench/mutation.py --only kurtosis-band filter-missing-le
    python bench/mutation.py --list          # the mutations, with file and line
    python bench/mutation.py --jobs 2        # two copies of the tree at once

First the unmutated copy runs every subset (``--no-baseline`` skips it): the kill rate
means nothing if the tests fail already.  A mutation whose text is no longer in its file
(the code moved on) is reported ``stale``; update its line here.  Exit status: 0 when
every mutation was killed, 1 when one survived (or the baseline failed), 2 when one is
stale or its tests could not run.

Mutations marked ``#27`` are those issue #27 found surviving the suite of the time.
"""
import argparse
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Mutation:
    id: str
    path: str           # relative to the checkout's root
    old: str            # exact text, found exactly once in the file
    new: str
    tests: tuple        # pytest arguments: files or file::test ids
    what: str           # what changes for a user
    issue: bool = False  # one of issue #27's survivors


# the test subsets
FILTERS = ("tests/scan/test_filter_limits.py",)
HWE = ("tests/scan/test_snp_filters.py::test_hwe_exact_test_equals_brute_force_enumeration",
       "tests/scan/test_filter_limits.py")
KURTOSIS = ("tests/scan/test_kurtosis_warning.py",
            "tests/models/test_robust.py::test_kurtosis_warning")
COVARIATES = ("tests/io/test_covariate_missing.py",)
FINGERPRINT = ("tests/scan/test_resume_fingerprint.py",)
RESUME = ("tests/scan/test_resume_fingerprint.py",
          "tests/scan/test_resume.py::test_interrupted_hlmm_scan_resumes_to_the_same_table")
ROBUST = ("tests/models/test_robust.py",)
HLM = ("tests/models/test_hlm.py",)
HLMM = ("tests/models/test_hlmm.py",)
HLMM_CLASSES = ("tests/scan/test_scan_engine.py::test_hlmm_class_loglik_and_gradient_match_dense",
                "tests/scan/test_scan_engine.py::test_hlmm_class_scan_matches_general_hlmm")
CLOSED_FORM = ("tests/scan/test_null_setup.py",)
DISPERSION = ("tests/sim/test_dispersion.py", "tests/sim/test_tutorial.py")
SIGNAL = ("tests/sim/test_dispersion.py",)
LEVENE = ("tests/scan/test_brown_forsythe.py",)
PLOTS = ("tests/sim/test_plots.py", "tests/sim/test_tutorial.py")
TABLES = ("tests/io/test_table_headers.py", "tests/io/test_covariate_missing.py",
          "tests/io/test_tables_selection.py")
TRAIT_SCALE = ("tests/scan/test_trait_scale.py",)
OUTPUT = ("tests/scan/test_chr_options.py::test_neglog10_pval_matches_scipy_including_far_tail",
          "tests/io/test_output_format.py")

M = Mutation
MUTATIONS = [
    # --- hlmm/scan/snp_filters.py: the filters of every engine --------------------------
    M("filter-missing-le", "hlmm/scan/snp_filters.py",
      "100.0 * (1.0 - n_l / n) < cfg.max_missing", "100.0 * (1.0 - n_l / n) <= cfg.max_missing",
      FILTERS, "a SNP exactly at --max-missing is fitted", issue=True),
    M("filter-maf-ge", "hlmm/scan/snp_filters.py",
      "~(freq > cfg.min_maf)", "~(freq >= cfg.min_maf)",
      FILTERS, "a SNP exactly at --min-maf is fitted; a monomorphic SNP 'failed'", issue=True),
    M("filter-mac-rounding", "hlmm/scan/snp_filters.py",
      "total * freq + 1e-6 >= mac", "total * freq >= mac",
      FILTERS, "a SNP at --mac whose 2·n·MAF rounds below it is filtered"),
    M("filter-hwe-le", "hlmm/scan/snp_filters.py",
      "code[todo[p < hwe]] = HWE", "code[todo[p <= hwe]] = HWE",
      FILTERS, "a SNP with HWE p exactly --hwe is filtered"),
    M("filter-hwe-swapped", "hlmm/scan/snp_filters.py",
      "hwe_exact_p(c[1], c[0], c[2])", "hwe_exact_p(c[0], c[1], c[2])",
      FILTERS, "--hwe tests the wrong genotype counts"),
    M("filter-hwe-ties", "hlmm/scan/snp_filters.py",
      "tail = p[logp <= obs + 1e-7].sum()", "tail = p[logp < obs].sum()",
      HWE, "HWE p leaves out the observed table (and its ties)"),
    M("filter-mind-lt", "hlmm/scan/snp_filters.py",
      "return rates <= threshold, rates", "return rates < threshold, rates",
      FILTERS, "an individual exactly at --mind is removed"),
    M("class-counts-hard-call", "hlmm/scan/snp_filters.py",
      "hard = (np.abs(v - r) <= 0.1)", "hard = (np.abs(v - r) <= 0.5)",
      FILTERS, "--hwe counts dosages far from 0, 1, 2 as hard calls"),
    # --- hlmm/scan/null_model.py: the null model's checks ---------------------------------
    M("kurtosis-band", "hlmm/scan/null_model.py",
      "not 0.9 <= lam <= 1.1", "not 0.5 <= lam <= 1.5",
      KURTOSIS, "a trait of kurtosis 3.7 is not warned about", issue=True),
    M("kurtosis-wording", "hlmm/scan/null_model.py",
      'what = ("inflated" if lam > 1 else "deflated (power lost)")',
      'what = ("deflated (power lost)" if lam > 1 else "inflated")',
      KURTOSIS, "heavy tails reported as 'deflated (power lost)'", issue=True),
    M("kurtosis-noise-guard", "hlmm/scan/null_model.py",
      "3.0 * np.sqrt(24.0 / self.sample.n)", "2.0 * np.sqrt(24.0 / self.sample.n)",
      KURTOSIS, "warnings on sampling noise of κ̂"),
    M("kurtosis-lambda", "hlmm/scan/null_model.py",
      "lam = (kappa - 1.0) / 2.0", "lam = (kappa - 1.0) / 3.0",
      KURTOSIS, "the warning's λ is wrong"),
    M("trait-scale-missing-calls", "hlmm/scan/null_model.py",
      "return total if missing is None else total - float(ls[missing].sum())",
      "return total if missing is None else total + float(ls[missing].sum())",
      TRAIT_SCALE, "SNP likelihoods with variance covariates and missing calls are off"),
    # --- hlmm/io: phenotype and covariate tables -----------------------------------------
    M("covariates-missing-number", "hlmm/io/sample.py",
      "        return read_table(path, missing, missing_number)",
      "        return read_table(path, missing)",
      COVARIATES, "--input-missing-phenotype ignored on covariates", issue=True),
    M("tables-missing-number-fixed", "hlmm/io/tables.py",
      "values[values == float(missing_number)] = np.nan",
      "values[values == -9.0] = np.nan",
      TABLES, "--input-missing-phenotype -99 reads -9 as missing, -99 as a value"),
    M("tables-header-and", "hlmm/io/tables.py",
      'header = first[0] == "FID" or not any(', 'header = first[0] == "FID" and not any(',
      TABLES, "a header line without FID is read as an individual"),
    # --- hlmm/scan/checkpoint.py: --resume -----------------------------------------------
    M("fingerprint-min-maf", "hlmm/scan/checkpoint.py",
      '"resume"}', '"resume", "min_maf"}',
      FINGERPRINT, "--resume with another --min-maf mixes rows filtered two ways", issue=True),
    M("companions-fam", "hlmm/scan/checkpoint.py",
      '".bed": (".bim", ".fam")', '".bed": (".bim",)',
      FINGERPRINT, "--resume after the .fam changed is accepted", issue=True),
    M("companions-psam", "hlmm/scan/checkpoint.py",
      '(".pvar", ".pvar.zst", ".psam")', '(".pvar", ".pvar.zst")',
      FINGERPRINT, "--resume after the .psam changed is accepted"),
    M("companions-sample", "hlmm/scan/checkpoint.py",
      '".bgen": (".sample", ', '".bgen": (',
      FINGERPRINT, "--resume after the .sample changed is accepted"),
    M("fingerprint-files-ignored", "hlmm/scan/checkpoint.py",
      "if old_files.get(path) != new_files.get(path):",
      "if old_files.get(path) is None and new_files.get(path) is not None:",
      FINGERPRINT, "--resume after an input changed is accepted"),
    M("fingerprint-size-only", "hlmm/scan/checkpoint.py",
      "return [os.path.abspath(path), st.st_size, st.st_mtime_ns]",
      "return [os.path.abspath(path), st.st_size]",
      FINGERPRINT, "--resume after an input changed at the same size is accepted"),
    M("resume-half-line", "hlmm/scan/checkpoint.py",
      'complete = data[: data.rfind(b"\\n") + 1]', 'complete = data',
      RESUME, "a half-written last row (kill -9) is kept"),
    # --- hlmm/models/robust.py: sandwich covariances -------------------------------------
    M("hc0-cross-factor", "hlmm/models/robust.py",
      "B[:p, p:] = 0.5 * (A * (e * e2m1)[:, None]).T @ V",
      "B[:p, p:] = (A * (e * e2m1)[:, None]).T @ V",
      ROBUST, "HC0 covariance of add and var doubled"),
    M("pooled-bb-factor", "hlmm/models/robust.py",
      "B[p:, p:] = m4 * 0.5 * I_bb", "B[p:, p:] = m4 * I_bb",
      ROBUST, "robust var SEs √2 too large"),
    M("pooled-excess-m4", "hlmm/models/robust.py",
      "0.25 * (m4 - 2.0) * cbar * cbar * VtV", "0.25 * (m4 - 3.0) * cbar * cbar * VtV",
      ROBUST, "HLMM robust var SEs too small"),
    M("pooled-excess-cbar", "hlmm/models/robust.py",
      "0.5 * m3 * cbar ** 1.5 * AtV", "0.5 * m3 * cbar ** 0.5 * AtV",
      ROBUST, "HLMM robust add-var covariance off"),
    M("central-sums-r3", "hlmm/models/robust.py",
      "R3 = P3 - 3.0 * mu * P2 + 3.0 * m2 * P1", "R3 = P3 - 3.0 * mu * P2 - 3.0 * m2 * P1",
      ROBUST, "class-engine robust SEs off for skewed traits"),
    M("class-sandwich-c4", "hlmm/models/robust.py",
      "c4 = E4 - 2.0 * E2 + n", "c4 = E4 - E2 + n",
      ROBUST, "class-engine robust var SEs off"),
    M("hlmm-cbar-sign", "hlmm/models/robust.py",
      "cbar = 1.0 - h2 * np.trace(", "cbar = 1.0 + h2 * np.trace(",
      ROBUST, "HLMM robust SEs off"),
    M("kurtosis-square", "hlmm/models/robust.py",
      "/ (m2 * m2))", "/ m2)",
      KURTOSIS, "the kurtosis reported and checked is not the kurtosis"),
    # --- hlmm/models/hlm.py, hlm_intercept.py: the HLM --------------------------------------
    M("hlm-var-se", "hlmm/models/hlm.py",
      "cov[self.p:, self.p:] = 2.0 * linalg.inv(VtV)", "cov[self.p:, self.p:] = linalg.inv(VtV)",
      HLM, "var SEs √2 too small"),
    M("hlm-loglik-constant", "hlmm/models/hlm.py",
      "        return -0.5 * (f + self.n * LOG2PI)", "        return -0.5 * (f - self.n * LOG2PI)",
      HLM, "HLM.loglik off by n·log 2π"),
    M("hlm-gradient-sign", "hlmm/models/hlm.py",
      "return np.concatenate([grad_a, -0.5 * grad_b])",
      "return np.concatenate([grad_a, 0.5 * grad_b])",
      HLM, "HLM.gradient's β part has the wrong sign"),
    M("closed-form-alpha-se", "hlmm/models/hlm_intercept.py",
      "cov = np.array([[1.0 / (n * w), 0.0], [0.0, 2.0 / n]])",
      "cov = np.array([[1.0 / n, 0.0], [0.0, 2.0 / n]])",
      CLOSED_FORM, "the null model's intercept SE ignores the variance"),
    M("hlmm-logdet", "hlmm/models/hlmm.py",
      "self.logdetA = 2.0 * np.sum(np.log(np.diag(self.L)))",
      "self.logdetA = np.sum(np.log(np.diag(self.L)))",
      HLMM, "the HLMM likelihood (and so h2) is wrong"),
    M("hlmm-information", "hlmm/models/hlmm.py",
      "info = 0.5 * pt.hess", "info = pt.hess",
      HLMM, "HLMM SEs √2 too small"),
    M("hlmm-classes-residual", "hlmm/models/hlmm_classes.py",
      "rr = self.S2 - 2.0 * mu * self.S1 + self.nk * mu * mu",
      "rr = self.S2 - mu * self.S1 + self.nk * mu * mu",
      HLMM_CLASSES, "the HLMM class engine's fits are wrong"),
    M("class-robust-centring", "hlmm/scan/class_engines.py",
      'x = np.arange(3.0)[None, :] - 2.0 * res["freq"][:, None]',
      'x = np.arange(3.0)[None, :] - res["freq"][:, None]',
      ROBUST, "the class engine's robust SEs use the wrong genotype centring"),
    # --- hlmm/sim/dispersion.py: dispersion effects ----------------------------------------
    M("dispersion-adjustment-sign", "hlmm/sim/dispersion.py",
      "adjustment = 1.0 + mean_noise / (var_add - mean_noise)",
      "adjustment = 1.0 - mean_noise / (var_add - mean_noise)",
      DISPERSION, "r_av attenuated instead of corrected"),
    M("dispersion-ddof", "hlmm/sim/dispersion.py",
      "var_add = float(np.var(add[ok], ddof=1))", "var_add = float(np.var(add[ok], ddof=0))",
      DISPERSION, "the noise adjustment uses the biased variance"),
    M("dispersion-se-square", "hlmm/sim/dispersion.py",
      "r_av ** 2 * add_se[ok] ** 2", "r_av * add_se[ok] ** 2",
      DISPERSION, "dispersion SEs wrong"),
    M("dispersion-ks-first-snp", "hlmm/sim/dispersion.py",
      '"ks_dispersion_p": ks_chi2_pvalue(fit.dispersion_t[1:])',
      '"ks_dispersion_p": ks_chi2_pvalue(fit.dispersion_t)',
      DISPERSION, "the tutorial's KS test includes the simulated effect"),
    M("huber-k", "hlmm/sim/dispersion.py",
      "HUBER_K = 1.345", "HUBER_K = 1.5",
      DISPERSION, "the slope is not MASS::rlm's"),
    M("huber-mad", "hlmm/sim/dispersion.py",
      "scale = np.median(np.abs(resid)) / mad_constant",
      "scale = np.median(np.abs(resid)) * mad_constant",
      DISPERSION, "the Huber scale is not the MAD"),
    M("signal-satterthwaite", "hlmm/sim/dispersion.py",
      "var_q = 2.0 * ((1.0 - 2.0 / m)", "var_q = 2.0 * ((1.0 - 1.0 / m)",
      SIGNAL, "the polygenic-signal p-value is off"),
    M("genomic-control-median", "hlmm/sim/dispersion.py",
      "np.median(x) / stats.chi2.ppf(0.5, 1)", "np.median(x) / 0.5",
      DISPERSION + PLOTS[:1], "λ in the figures is off"),
    # --- hlmm/scan/levene.py: Brown–Forsythe --------------------------------------------
    M("levene-df2", "hlmm/scan/levene.py",
      "df2 = (N - K).astype(float)", "df2 = (N - K - 1).astype(float)",
      LEVENE, "Brown–Forsythe p-values with the wrong degrees of freedom"),
    M("levene-f2-closed-form", "hlmm/scan/levene.py",
      "np.log1p(2.0 * np.maximum(F[two], 0.0) / d2[two])",
      "np.log1p(np.maximum(F[two], 0.0) / d2[two])",
      LEVENE, "Brown–Forsythe p-values of 3-class SNPs wrong"),
    M("levene-centre", "hlmm/scan/levene.py",
      "st[:, 2::3] = s2 - 2.0 * c * s1 + n * c * c", "st[:, 2::3] = s2 - c * s1 + n * c * c",
      LEVENE, "Brown–Forsythe F wrong when the scan passes its class sums"),
    # --- hlmm/io/output.py, hlmm/plots.py ------------------------------------------------
    M("pval-chi2-1", "hlmm/io/output.py",
      "out = -(_LOG2 + log_ndtr(-np.sqrt(stat))) / _LN10",
      "out = -log_ndtr(-np.sqrt(stat)) / _LN10",
      OUTPUT, "every 1-df p-value halved"),
    M("qq-expected", "hlmm/plots.py",
      "exp = -np.log10((i - 0.5) / m)", "exp = -np.log10(i / m)",
      PLOTS, "QQ plots' expected values shifted"),
    M("manhattan-headroom", "hlmm/plots.py",
      "ax.set_ylim(0, top * 1.3)", "ax.set_ylim(0, top)",
      PLOTS, "the legend sits on the highest peak"),
]


def _line_of(text, old):
    return text[:text.index(old)].count("\n") + 1


def _copy_tree(dest):
    shutil.copytree(ROOT, dest, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", ".pytest_cache", "build", "*.egg-info", ".mypy_cache"))
    return dest


def _pytest(tree, tests, full, timeout, extra=()):
    """Run the tests in ``tree``: ``(outcome, seconds, last line)``."""
    env = dict(os.environ, PYTHONPATH=tree, PYTHONDONTWRITEBYTECODE="1")
    # tests reading the shared reference data find it beside the checkout, not the copy
    ref = os.environ.get("HLMM_REFERENCE",
                         os.path.join(os.path.dirname(ROOT), "shared", "reference"))
    env["HLMM_REFERENCE"] = ref
    args = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *extra,
            *(["tests"] if full else tests)]
    t0 = time.perf_counter()
    try:
        res = subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - t0, f"over {timeout} s"
    lines = [ln for ln in res.stdout.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else res.stderr.strip()[-200:]
    # pytest: 0 passed, 1 tests failed, 2 interrupted/collection error, 3 internal
    # error, 4 usage error, 5 no tests collected
    outcome = {0: "survived", 1: "killed", 2: "killed"}.get(res.returncode, "error")
    return outcome, time.perf_counter() - t0, last


def _run_one(tree, m, full, timeout, extra=()):
    path = os.path.join(tree, m.path)
    with open(path, encoding="utf-8") as fh:
        original = fh.read()
    if original.count(m.old) != 1:
        return "stale", 0.0, f"text found {original.count(m.old)} times in {m.path}"
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(original.replace(m.old, m.new))
        return _pytest(tree, m.tests, full, timeout, extra)
    finally:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(original)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="run the whole suite per mutation")
    ap.add_argument("--only", nargs="+", metavar="ID", help="only these mutations")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--jobs", type=int, default=1, help="mutations run at once (one copy "
                    "of the tree each)")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds per mutation's tests (default 900)")
    ap.add_argument("--pytest-arg", action="append", default=[], metavar="ARG",
                    help="an extra pytest argument (repeatable), e.g. "
                    "--pytest-arg=--deselect=tests/x.py::test_y")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the unmutated run of the test subsets")
    opts = ap.parse_args(argv)

    chosen = MUTATIONS
    if opts.only:
        unknown = set(opts.only) - {m.id for m in MUTATIONS}
        if unknown:
            ap.error(f"unknown mutation(s): {', '.join(sorted(unknown))}")
        chosen = [m for m in MUTATIONS if m.id in opts.only]
    if opts.list:
        for m in chosen:
            text = open(os.path.join(ROOT, m.path), encoding="utf-8").read()
            where = f"{m.path}:{_line_of(text, m.old)}" if m.old in text else f"{m.path}:?"
            print(f"{m.id:28s} {where:32s} {'#27 ' if m.issue else ''}{m.what}")
        return 0

    base = tempfile.mkdtemp(prefix="hlmm-mutation-")
    try:
        trees = queue.Queue()
        for k in range(max(1, opts.jobs)):
            trees.put(_copy_tree(os.path.join(base, f"tree{k}")))
        if not opts.no_baseline:
            tests = sorted({t for m in chosen for t in m.tests})
            tree = trees.get()
            outcome, secs, last = _pytest(tree, tests, opts.full, opts.timeout * 4,
                                          opts.pytest_arg)
            trees.put(tree)
            print(f"baseline (unmutated, {len(tests)} test targets): {last} ({secs:.0f} s)",
                  flush=True)
            if outcome != "survived":
                print("the unmutated tree fails its tests: no kill rate", file=sys.stderr)
                return 1
        results = {}
        lock = threading.Lock()

        def work(m):
            tree = trees.get()
            try:
                r = _run_one(tree, m, opts.full, opts.timeout, opts.pytest_arg)
            finally:
                trees.put(tree)
            with lock:
                results[m.id] = r
                print(f"  {m.id:28s} {r[0]:9s} {r[1]:6.1f} s  {r[2][:70]}", flush=True)

        threads = []
        pending = list(chosen)
        while pending or threads:
            while pending and len(threads) < max(1, opts.jobs):
                t = threading.Thread(target=work, args=(pending.pop(0),))
                t.start()
                threads.append(t)
            threads[0].join()
            threads = [t for t in threads if t.is_alive()]
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print()
    print(f"{'mutation':28s} {'file:line':34s} {'outcome':9s} {'s':>6s}  what it changes")
    for m in chosen:
        outcome, secs, _ = results[m.id]
        text = open(os.path.join(ROOT, m.path), encoding="utf-8").read()
        where = f"{m.path}:{_line_of(text, m.old)}" if m.old in text else m.path
        tag = "#27 " if m.issue else ""
        print(f"{m.id:28s} {where:34s} {outcome:9s} {secs:6.1f}  {tag}{m.what}")
    counts = {k: sum(r[0] == k for r in results.values())
              for k in ("killed", "timeout", "survived", "stale", "error")}
    valid = counts["killed"] + counts["timeout"] + counts["survived"]
    killed = counts["killed"] + counts["timeout"]
    print()
    print(f"kill rate: {killed}/{valid} = {100.0 * killed / max(valid, 1):.1f} %"
          + "".join(f", {v} {k}" for k, v in counts.items() if v and k not in ("killed",))
          + f"  ({'whole suite' if opts.full else 'test subsets'})")
    if counts["stale"] or counts["error"]:
        return 2
    return 0 if counts["survived"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
