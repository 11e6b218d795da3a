"""Running a genome scan: the lock, checkpoints, progress and the output files.

One phenotype writes ``OUTPREFIX.models.gz`` and the null-model files; several (see
:mod:`hlmm.scan.many_phenotypes`) write ``OUTPREFIX.P.models.gz`` and ``OUTPREFIX.P.null_*.txt``
for each phenotype P, with one ``OUTPREFIX.log`` for the run.  Rows are kept in a
partial file per output as blocks finish (:mod:`hlmm.scan.checkpoint`), so an interrupted run
continues with ``--resume``; the final files are written atomically.
"""
import concurrent.futures as cf
import contextlib
import gzip
import os
import sys
import threading
import time
from dataclasses import dataclass

from .._threads import capped_threads
from .checkpoint import (BatchProgress, Interrupted, Partial, PrefixLock, check_prefix,
                         fingerprint, signals_interrupt)
from ..errors import InputError
from .block_fits import BlockFits
from ..io.output import (AtomicOutputs, NEW_COLUMNS, effects_table, models_columns,
                         pack_block, write_table)
from ..io.run_log import LiveLog, Log
from .genome_scan import GenomeScan, ScanInputs


@dataclass
class _Output:
    """One phenotype's outputs: its scan, file prefix and partial rows."""
    prefix: str
    scan: GenomeScan
    label: str = None
    partial: Partial = None
    append: bool = False

    @property
    def models_path(self):
        return self.prefix + ".models.gz"


def run_scan(cfg, progress=None):
    """Run a whole scan and write its outputs; returns the counts of SNP outcomes (with
    several phenotypes, summed, and per phenotype under ``"phenotypes"``).

    ``progress``, if given, is called with the number of SNPs to scan and returns a
    context manager with ``update(k)`` (click.progressbar fits), or None (then, as in a
    batch log, a progress line is printed every minute).  An interruption raises
    :class:`hlmm.scan.checkpoint.Interrupted` with ``done``/``total``/``partial``.
    """
    t_start = time.perf_counter()
    from .._version import version

    log = Log()
    log(f"hlmm {version()}")
    if cfg.command:
        log(f"Command: {cfg.command}")
    log(f"Started: {time.strftime('%Y-%m-%d %H:%M:%S')}")
    check_prefix(cfg.outprefix)
    if cfg.dask_scheduler and cfg.dask_workers:
        raise InputError("--dask-scheduler and --dask-workers exclude each other")
    if cfg.dask_scheduler or cfg.dask_workers:
        from .dask_cluster import _require_distributed

        _require_distributed("--dask-scheduler" if cfg.dask_scheduler else "--dask-workers")
    lock = PrefixLock(cfg.outprefix)
    try:
        with capped_threads(cfg.threads):
            return _run_locked(cfg, log, progress, t_start)
    finally:
        lock.release()


def _check_append(models_path, columns, scan, log_path):
    """--append: the table must be gzip, readable, with this run's header, and must not
    hold any SNP being added."""
    sids = set(scan.bed.sid[scan.snps].tolist())
    try:
        with gzip.open(models_path, "rt") as fh:
            header = fh.readline().rstrip("\n").split("\t")
            if header != columns:
                old = [c for c in columns if c not in NEW_COLUMNS]
                why = ("it was written by an hlmm without the a1_freq and status columns"
                       if header == old else "e.g. --brown-forsythe differs")
                raise InputError(f"--append: {models_path} has other columns than this run "
                                 f"writes ({len(header)} against {len(columns)}; {why})")
            for line_no, line in enumerate(fh, start=2):
                sid = line.split("\t", 1)[0]
                if sid in sids:
                    raise InputError(f"--append: {models_path} line {line_no} already holds "
                                     f"SNP {sid}, which this run would add again")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"--append: {models_path} is not a readable gzip table "
                         f"({str(exc).splitlines()[0]})") from None
    # The SE columns must mean the same for every row: the earlier runs' log says which.
    if os.path.exists(log_path):
        with open(log_path) as fh:
            kinds = [ln.strip() for ln in fh if ln.startswith("Standard errors:")]
        mine = scan.se_kind
        if kinds and kinds[-1] != mine:
            raise InputError(f"--append: {models_path} holds '{kinds[-1]}' and this run would "
                             f"add '{mine}' ({log_path}); use the same --robust setting")


def _open_scan(cfg, log):
    """The scan and its outputs: one GenomeScan, or a MultiScan for several phenotypes."""
    t0 = time.perf_counter()
    inputs = ScanInputs(cfg, log)
    t_inputs = time.perf_counter() - t0
    from .chrom_groups import ChromosomeScan, by_chromosome

    if by_chromosome(cfg, inputs):
        scan = ChromosomeScan(cfg, log, inputs)
        scan.t_setup += t_inputs
        if not scan.multi:
            return scan, [_Output(cfg.outprefix, scan)], False
        return scan, [_Output(f"{cfg.outprefix}.{v.label}", v, v.label)
                      for v in scan.scans], True
    if len(inputs.phenotypes) == 1:
        column, label = inputs.phenotypes[0]
        scan = GenomeScan(cfg, log, inputs, column, label)
        scan.t_setup += t_inputs
        return scan, [_Output(cfg.outprefix, scan)], False
    from .many_phenotypes import MultiScan

    scan = MultiScan(cfg, log, inputs)
    scan.t_setup += t_inputs
    return scan, [_Output(f"{cfg.outprefix}.{s.label}", s, s.label) for s in scan.scans], True


def _check_partial_columns(partial, columns):
    """--resume: the kept rows must be this hlmm's, with this run's columns.  A partial
    file of an earlier hlmm holds whole rows after each status (and, older still, rows
    without a1_freq and status): they would be mixed with the new ones."""
    path = partial.path
    with open(path, "rb") as fh:
        first = fh.readline()
    n_fields = first.count(b"\t")        # the status column is one more than the row's
    if first.endswith(b"\n") and n_fields != 1:
        raise InputError(f"--resume: {path} holds whole rows (of {n_fields} columns): "
                         "it was written by an earlier hlmm; run without --resume to "
                         "start afresh")
    row = partial.first_row()
    n_cols = row.count(b"\t") + 1
    if row and n_cols != len(columns):
        raise InputError(f"--resume: {partial.rows_path} has rows of {n_cols} columns and "
                         f"this run writes {len(columns)}; run without --resume to start "
                         "afresh")


def _start_partials(cfg, scan, outs, columns):
    """Open every output's partial file; with --resume keep the SNPs all of them hold
    (a run stopped between two phenotypes' appends holds one block more in some)."""
    fp = fingerprint(cfg)
    for o in outs:
        o.partial = Partial(o.prefix)
        if cfg.resume and os.path.exists(o.partial.path):
            _check_partial_columns(o.partial, columns)
        o.partial.start(fp, cfg.resume)
    k = min(len(o.partial.kept) for o in outs)
    sids = scan.bed.sid[scan.snps[:k]].tolist() if k <= len(scan.snps) else None
    for o in outs:
        if sids is None or o.partial.kept[:k] != sids:
            raise InputError(f"--resume: {o.partial.path} does not match the SNPs of this "
                             "run; run without --resume to start afresh")
        if len(o.partial.kept) > k:
            o.partial.keep_first(k)
    return k


def _extra_columns(scan):
    """The GxE columns (hlmm.scan.interaction), the same for every phenotype and
    chromosome group: those of the first GenomeScan inside ``scan``."""
    while getattr(scan, "extra_columns", None) is None:
        subs = getattr(scan, "scans", None) or list(getattr(scan, "_by_key", {}).values())
        if not subs:
            return []
        scan = subs[0]
    return list(scan.extra_columns)


def _run_locked(cfg, log, progress, t_start):
    scan, outs, multi = _open_scan(cfg, log)
    columns = models_columns(cfg.brown_forsythe, _extra_columns(scan))
    log_path = cfg.outprefix + ".log"
    for o in outs:
        o.append = cfg.append and os.path.exists(o.models_path)
        if o.append:
            _check_append(o.models_path, columns, o.scan, log_path)
    bed = scan.bed
    all_snps = scan.snps
    try:
        k = _start_partials(cfg, scan, outs, columns)
    except BaseException:
        if not cfg.resume:      # leave no fresh checkpoint of a run that did not start
            for o in outs:
                if o.partial is not None and o.partial.fh is not None:
                    o.partial.finish()
        for o in outs:
            if o.partial is not None:
                o.partial.close()
        raise
    if k:
        log(f"Resumed: {k} SNPs kept from the unfinished run, {len(all_snps) - k} to go")
        scan.snps = all_snps[k:]
    total = len(all_snps)
    threads = cfg.threads or os.cpu_count() or 1
    t_loop = time.perf_counter()
    stop = threading.Event()
    done = k
    handler = signals_interrupt(stop)
    live = LiveLog(log, log_path, append=cfg.append)
    try:
        handler.__enter__()
        live.start()
        with contextlib.ExitStack() as stack:
            if cfg.dask_scheduler or cfg.dask_workers:
                from .dask_cluster import dask_client, iter_fits_dask

                client = stack.enter_context(dask_client(cfg.dask_scheduler,
                                                         cfg.dask_workers, cfg.threads))
                log(f"Dask: {len(client.scheduler_info()['workers'])} worker(s) at "
                    f"{client.scheduler.address}")
                fits = iter_fits_dask(scan, client)
            else:
                scan._stop = stop
                fits = scan.iter_fits(threads, text=True)
            bar = progress(total) if progress is not None else None
            bar = stack.enter_context(bar if bar is not None else BatchProgress(total, k))
            if k and not isinstance(bar, BatchProgress):
                bar.update(k)           # the bar counts the resumed SNPs as done
            for idx, block in fits:
                for o, part in zip(outs, block if multi else [block]):
                    part = BlockFits.from_fits(part)
                    packed = part.packed
                    if packed is None:        # (Dask: formatted here)
                        packed = pack_block(o.scan.block_lines(idx, part))
                    o.partial.append(*packed)
                    for j, reason in part.failures():
                        print(f"hlmm: warning: fit failed for {bed.sid[idx[j]]}"
                              + (f" (phenotype {o.label})" if o.label else "")
                              + f": {reason}", file=sys.stderr)
                done += len(idx)
                bar.update(len(idx))
        scan._stop = None
        for o in outs:
            o.partial.close()
        # still under the handler: a signal while writing leaves no half-written file
        return _write_outputs(cfg, scan, outs, log, columns, threads, t_start, t_loop, live)
    except Interrupted as exc:
        exc.done, exc.total = done, total
        exc.partial = (outs[0].partial.path if not multi
                       else f"{cfg.outprefix}.*.models.partial")
        live.stop(f"Interrupted by {exc} after {done} of {total} SNPs "
                  f"({time.strftime('%Y-%m-%d %H:%M:%S')}); their rows are in "
                  f"{exc.partial}: rerun the same command with --resume")
        raise
    except BaseException as exc:
        if done == 0 and not cfg.resume:
            for o in outs:
                o.partial.finish()  # nothing was computed: leave no checkpoint behind
            live.discard()
        else:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            live.stop(f"Stopped after {done} of {total} SNPs: {why}")
        raise
    finally:
        live.close()
        handler.__exit__(None, None, None)
        scan._stop = None
        for o in outs:
            if o.partial is not None:
                o.partial.close()


_NULL_SUFFIXES = (".null_mean_effects.txt", ".null_variance_effects.txt", ".null_h2.txt")


def _write_null_files(cfg, o, out):
    """The null model's files of output ``o``; returns the suffixes written."""
    written = set()
    scan = o.scan
    if not cfg.no_covariate_estimates:
        if cfg.mean_covar is not None:
            out.text(o.prefix + ".null_mean_effects.txt",
                     "name\testimate\tse\n" + effects_table(*scan.null_mean))
            written.add(".null_mean_effects.txt")
        if cfg.var_covar is not None:
            out.text(o.prefix + ".null_variance_effects.txt",
                     "name\testimate\tse\n" + effects_table(*scan.null_var))
            written.add(".null_variance_effects.txt")
    if scan.null_h2 is not None:
        # (--pred, chrX: one row per chromosome group, hlmm.scan.chrom_groups)
        out.text(o.prefix + ".null_h2.txt", getattr(scan, "null_h2_text", None)
                 or f"h2\tse\n{float(scan.null_h2[0])!r}\t{float(scan.null_h2[1])!r}\n")
        written.add(".null_h2.txt")
    return written


def _write_tables(outs, out, columns, threads):
    """Every output's table from its partial rows (their compressed blocks copied after
    the header), in ``threads`` parallel threads; returns each one's
    ``(counts, unusable, failures)`` (:func:`hlmm.io.output.write_table`)."""
    header = ("\t".join(columns) + "\n").encode()
    # the temporary files are made here, in order; the threads only write them
    jobs = [(o.partial.path, o.partial.rows_path,
             out.temp_path(o.models_path, append=o.append),
             None if o.append else header) for o in outs]
    if threads <= 1 or len(jobs) <= 1:
        return [write_table(*job) for job in jobs]
    pool = cf.ThreadPoolExecutor(max_workers=min(threads, len(jobs)))
    try:
        futures = [pool.submit(write_table, *job) for job in jobs]
        return [f.result() for f in futures]
    finally:        # (an error or a signal: the tables not started are not written)
        pool.shutdown(wait=True, cancel_futures=True)


def _log_table(cfg, o, result, log):
    """Log output ``o``'s table as written (``result`` of :func:`_write_tables`);
    returns its counts."""
    counts, unusable, failures = result
    for key in ("filtered_mac", "filtered_hwe"):
        counts.setdefault(key, 0)
    who = f"Phenotype '{o.label}': " if o.label else ""
    log(f"{who}SNPs: {sum(counts.values())} written; {counts['ok']} fitted, "
        f"{counts['filtered_missing']} filtered on missingness (>= {cfg.max_missing}%), "
        f"{counts['filtered_maf']} filtered on MAF (<= {cfg.min_maf}), "
        + (f"{counts['filtered_mac']} filtered on minor allele count (< {cfg.mac:g}), "
           if cfg.mac is not None else "")
        + (f"{counts['filtered_hwe']} filtered on Hardy-Weinberg exact p (< {cfg.hwe:g}), "
           if cfg.hwe is not None else "")
        + f"{counts['failed']} failed")
    for reason, k in sorted(unusable.items()):
        log(f"  {k} variant(s) not usable ({reason}): written with NaN")
    counts["unusable"] = sum(unusable.values())
    if counts["ok"] == 0 and any(v for k, v in counts.items() if k.startswith("filtered_")):
        log("Warning: every SNP was filtered out; no SNP was fitted")
    for line in failures:
        log(f"  failed: {line}")
    mom = getattr(o.scan, "_moments", None)
    if mom is not None and not cfg.dask_scheduler and not cfg.dask_workers:
        log(f"{who}{mom.fallbacks} SNP(s) beyond the class moments' bound or not converged "
            "there, fitted one by one")
    gxe = getattr(o.scan, "_interaction", None)
    if (gxe is not None and gxe.exact_kernel and not cfg.dask_scheduler
            and not cfg.dask_workers):
        # (the SNPs fitted in this process; Dask workers keep their own counts)
        if gxe.moments is not None:
            log(f"{who}GxE: {gxe.moments.fallbacks} SNP(s) beyond the class moments' "
                "bound or not converged there, fitted per SNP by the compiled exact fit")
        log(f"{who}GxE: {gxe.kernel_fallbacks} SNP(s) where the compiled exact fit did not "
            "converge, fitted by HLM.fit")
    log(f"Output: {o.models_path}")
    return counts


def _write_outputs(cfg, scan, outs, log, columns, threads, t_start, t_loop, live):
    """The final files from the partial rows; files of the prefix this run does not
    write (left by a run of another configuration) are removed."""
    written = {}
    per = []
    with AtomicOutputs() as out:
        for o in outs:
            written[o.prefix] = _write_null_files(cfg, o, out) if not cfg.append else None
        for o, result in zip(outs, _write_tables(outs, out, columns, threads)):
            per.append((o.label, o.models_path, _log_table(cfg, o, result, log)))
        t_end = time.perf_counter()
        log(f"Timing: setup {scan.t_setup:.3f} s, null model {scan.t_null:.3f} s, "
            f"SNP loop {t_end - t_loop:.3f} s, total {t_end - t_start:.3f} s "
            f"({threads} thread(s), blocks of {scan.block_size} SNPs)")
        log(f"Finished: {time.strftime('%Y-%m-%d %H:%M:%S')}")
        # (the file now holds this run's lines as they came: --append's earlier text is
        # the one read before the run)
        out.text(cfg.outprefix + ".log", live.previous + log.text())
        live.close()
        out.commit()
    if not cfg.append:
        # a skipped phenotype has no outputs of this run: none of an earlier run either
        for label in getattr(scan, "skipped", ()):
            written[f"{cfg.outprefix}.{label}"] = {}
            try:
                os.remove(f"{cfg.outprefix}.{label}.models.gz")
            except FileNotFoundError:
                pass
    for prefix, done in written.items():
        if done is None:
            continue
        for suffix in _NULL_SUFFIXES:
            if suffix not in done:
                try:
                    os.remove(prefix + suffix)
                except FileNotFoundError:
                    pass
    for o in outs:
        o.partial.finish()
    counts = {key: sum(c[key] for _, _, c in per) for key in per[0][2]}
    if len(outs) > 1 or outs[0].label:
        counts["phenotypes"] = per
    return counts
