"""Scans that survive interruption: per-block partial results, --resume, a lock per
output prefix, signal handling and batch-log progress.

While a scan runs, every finished block of rows is appended, written through to the OS,
to ``OUTPREFIX.models.partial.rows`` (a record per block: the block's table rows
compressed where it was fitted, :func:`hlmm.io.output.read_records`) and then to
``OUTPREFIX.models.partial`` (one line per SNP: its outcome, a tab, its ID);
``OUTPREFIX.resume`` records what the results depend on (the options that change them,
and the name, size and modification time of every input file).  A scan killed by the
scheduler, Ctrl-C or a node failure leaves them; the same command with ``--resume``
checks the fingerprint, keeps the SNPs of the complete lines whose rows are in whole
records and computes only the SNPs after them.  At the end the header and the records'
compressed rows, copied as they are, become ``OUTPREFIX.models.gz`` (one gzip member:
the table is the same, once decompressed, as an uninterrupted run's) and the files are
removed.
"""
import errno
import json
import os
import signal
import sys
import threading
import time
import zlib

from ..errors import InputError

# Options that change no number of the output: left out of the fingerprint.
_NOT_RESULTS = {"command", "threads", "block_size", "dask_scheduler", "dask_workers",
                "resume"}
_GENOTYPE_OPTIONS = ("genofile", "random_gts")
_INPUT_OPTIONS = ("phenofile", "mean_covar", "var_covar", "sample", "keep", "remove",
                  "extract", "exclude", "pred", "sex")
_COMPANIONS = {".bed": (".bim", ".fam"), ".pgen": (".pvar", ".pvar.zst", ".psam"),
               ".bgen": (".sample", ".bgen.bgi")}     # (bgenix's index: X.bgen.bgi)


class Interrupted(Exception):
    """SIGINT or SIGTERM during a scan; ``signum`` says which."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def check_prefix(outprefix):
    """One-line errors for an output prefix that cannot be written."""
    d = os.path.dirname(os.path.abspath(outprefix)) or "."
    if os.path.isdir(outprefix) or outprefix.endswith(os.sep):
        raise InputError(f"OUTPREFIX {outprefix}: is a directory; give a file name prefix "
                         f"(e.g. {os.path.join(outprefix.rstrip(os.sep) or '.', 'scan')})")
    if not os.path.isdir(d):
        raise InputError(f"OUTPREFIX {outprefix}: directory {d} does not exist")
    if not os.access(d, os.W_OK | os.X_OK):
        raise InputError(f"OUTPREFIX {outprefix}: directory {d} is not writable")


class PrefixLock:
    """An exclusive lock on ``OUTPREFIX.lock`` (flock: released by the kernel if the run
    dies), so two runs cannot write the same prefix at once."""

    def __init__(self, outprefix):
        import fcntl

        self.path = outprefix + ".lock"
        while True:
            try:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise InputError(f"{self.path}: cannot create the lock file "
                                 f"({exc.strerror})") from None
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self.fd)
                raise InputError(f"another hlmm run is writing {outprefix} (it holds "
                                 f"{self.path}); wait for it or use another OUTPREFIX") from None
            # The holder unlinks the file when it finishes: a lock taken on the unlinked
            # file in between is no lock, so check that we hold the file at the path.
            try:
                same = os.stat(self.path).st_ino == os.fstat(self.fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(self.fd)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()}\n".encode())

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


def _file_facts(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [os.path.abspath(path), st.st_size, st.st_mtime_ns]


def _genotype_files(path):
    """The files a genotype argument stands for (a bare PLINK prefix means .bed)."""
    stem, ext = os.path.splitext(str(path))
    if ext.lower() not in _COMPANIONS:
        stem, ext = str(path), ".bed"
    return [stem + ext] + [stem + c for c in _COMPANIONS[ext.lower()]]


def fingerprint(cfg):
    """What the scan's results depend on, as a JSON-able dict: the options that change
    results and the name, size and time of every file read."""
    options = {k: v for k, v in vars(cfg).items() if k not in _NOT_RESULTS}
    paths = []
    for key in _GENOTYPE_OPTIONS + _INPUT_OPTIONS:
        value = getattr(cfg, key, None)
        for path in (value if isinstance(value, (tuple, list)) else [value]):
            if not path:
                continue
            text_table = key == "random_gts" and getattr(cfg, "random_gts_txt", False)
            paths += (_genotype_files(path) if key in _GENOTYPE_OPTIONS and not text_table
                      else [path])
    if getattr(cfg, "pred", None):
        from ..io.loco import read_pred_list

        paths += list(read_pred_list(cfg.pred).values())     # the .loco files it names
    files = [f for f in map(_file_facts, paths) if f is not None]
    return {"options": json.loads(json.dumps(options, default=str)), "files": files}


def _differences(old, new):
    diff = [k for k in sorted(set(old["options"]) | set(new["options"]))
            if old["options"].get(k) != new["options"].get(k)]
    old_files = {f[0]: f for f in old["files"] if f}
    new_files = {f[0]: f for f in new["files"] if f}
    for path in sorted(set(old_files) | set(new_files)):
        if old_files.get(path) != new_files.get(path):
            diff.append(os.path.basename(path))
    return diff


def _write_all(fh, data):
    """All of ``data`` to the unbuffered file ``fh`` (a raw write may take part of it):
    an error leaves nothing buffered to be written again, and fail again, at close."""
    view = memoryview(data)
    while view:
        view = view[fh.write(view):]


class Partial:
    """``OUTPREFIX.models.partial`` (lines ``status<TAB>SNP``), its rows
    ``OUTPREFIX.models.partial.rows`` (a record per block,
    :func:`hlmm.io.output.read_records`) and ``OUTPREFIX.resume`` (see the module)."""

    def __init__(self, outprefix):
        self.path = outprefix + ".models.partial"
        self.rows_path = outprefix + ".models.partial.rows"
        self.fp_path = outprefix + ".resume"
        self.fh = self.rows_fh = None
        self.kept = []           # SNP IDs of the rows done before this run (--resume)
        self._synced = None
        self._sync_interval = float(os.environ.get("HLMM_SYNC_INTERVAL", "30"))

    def start(self, fp, resume):
        """Begin a run: with ``resume``, check the fingerprint and keep the SNPs of the
        complete lines whose rows are all there; otherwise start afresh (refused over an
        unfinished run's rows)."""
        if resume:
            if not (os.path.exists(self.path) and os.path.exists(self.fp_path)):
                raise InputError(f"--resume: no unfinished run to resume ({self.path} and "
                                 f"{self.fp_path} not found)")
            try:
                with open(self.fp_path) as fh:
                    old = json.load(fh)
            except (OSError, ValueError) as exc:
                raise InputError(f"--resume: {self.fp_path}: unreadable ({exc})") from None
            diff = _differences(old, fp)
            if diff:
                raise InputError(f"--resume: the unfinished run differs from this command "
                                 f"in {', '.join(diff)}; run without --resume to start "
                                 "afresh")
            with open(self.path, "rb") as fh:
                data = fh.read()
            complete = data[: data.rfind(b"\n") + 1]    # a half-written last line is dropped
            try:
                fields = [ln.split("\t") for ln in complete.decode().splitlines()]
            except UnicodeDecodeError:
                fields = [[]]
            if any(len(f) != 2 for f in fields):
                raise InputError(f"--resume: {self.path} is corrupt; delete it (and "
                                 f"{self.fp_path}) to start afresh")
            self.kept = [f[1] for f in fields]
            self._keep(len(self.kept))
        else:
            if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
                raise InputError(f"{self.path} holds the results of an unfinished run: add "
                                 "--resume to continue it, or delete it to start afresh")
            with open(self.fp_path, "w") as fh:
                json.dump(fp, fh)
            open(self.path, "wb").close()
            open(self.rows_path, "wb").close()
        self._open()

    def _open(self):
        self.rows_fh = open(self.rows_path, "ab", buffering=0)
        self.fh = open(self.path, "ab", buffering=0)

    def _keep(self, k):
        """Keep the first ``k`` SNPs, or fewer: as many as the rows file holds in whole
        records (rows are written before their status lines, but after a machine crash
        the two files may reach the disk unevenly); a record cut short by a kill, and
        the rows of a block whose status lines were not written, are dropped."""
        from ..io.output import inflate_segment, read_records, rows_record

        done, end, cut = 0, 0, None
        try:
            with open(self.rows_path, "rb") as src:
                for rec_end, n_rows, _, _, seg in read_records(src):
                    if done + n_rows > k:
                        cut = seg           # a block past k: its first rows stay
                        break
                    done, end = done + n_rows, rec_end
        except FileNotFoundError:
            pass
        tail = b""
        if cut is not None and done < k:
            try:
                rows = inflate_segment(cut).splitlines(keepends=True)[:k - done]
            except zlib.error:      # (damaged: its rows are computed again)
                rows = []
            tail = rows_record(b"".join(rows)) if rows else b""
            done += len(rows)
        with open(self.rows_path, "ab") as fh:
            fh.truncate(end)
            fh.write(tail)
        with open(self.path, "rb") as fh:
            lines = fh.read().split(b"\n")[:done]
        with open(self.path, "wb") as fh:
            fh.write(b"".join(ln + b"\n" for ln in lines))
        self.kept = self.kept[:done]

    def first_row(self):
        """The first row of the rows file (bytes, no newline; empty if it has none or
        cannot be read)."""
        from ..io.output import inflate_segment, read_records

        try:
            with open(self.rows_path, "rb") as fh:
                record = next(read_records(fh), None)
                return inflate_segment(record[4]).split(b"\n", 1)[0] if record else b""
        except (OSError, zlib.error):
            return b""

    def append(self, record, keys):
        """Append a block: its rows' ``record`` and its ``keys`` (bytes:
        ``status<TAB>SNP`` per SNP), each written through at once, the rows first.

        The data reach the OS at once, so they survive the process (kill -9, OOM, a
        signal); they are forced to the disk (fsync, which also reports a full disk) at
        the first block and then at most every ``HLMM_SYNC_INTERVAL`` seconds (default
        30, the kernel's own write-back delay): a machine crash loses at most that much
        work, and a many-phenotype run does not pay one fsync per phenotype and block."""
        try:
            _write_all(self.rows_fh, record)
            now = time.monotonic()
            sync = self._synced is None or now - self._synced >= self._sync_interval
            if sync:
                os.fsync(self.rows_fh.fileno())
            _write_all(self.fh, keys)
            if sync:
                os.fsync(self.fh.fileno())
                self._synced = now
        except OSError as exc:
            what = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
            raise InputError(f"{self.path}: cannot write ({what}); the SNPs written so far "
                             "are kept: make room and rerun the same command with "
                             "--resume") from None

    def keep_first(self, k):
        """Keep only the first ``k`` SNPs (resuming a many-phenotype run, whose outputs
        must hold the same SNPs)."""
        self.close()
        self._keep(k)
        self._open()

    def close(self):
        for name in ("fh", "rows_fh"):
            fh = getattr(self, name)
            setattr(self, name, None)
            if fh is not None:
                try:
                    fh.close()
                except OSError:     # (unbuffered: nothing is lost)
                    pass

    def finish(self):
        """The run is complete: remove the partial results and the fingerprint."""
        self.close()
        for p in (self.path, self.rows_path, self.fp_path):
            try:
                os.remove(p)
            except FileNotFoundError:
                pass


class BatchProgress:
    """A progress line on stderr every ``interval`` seconds (batch logs; the terminal gets
    click's bar instead): SNPs done, rate and the time left."""

    def __init__(self, total, done=0, interval=None):
        self.total, self.done, self.start_done = total, done, done
        self.interval = float(os.environ.get("HLMM_PROGRESS_INTERVAL", 60)
                              if interval is None else interval)
        self.t0 = self.last = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, k):
        self.done += k
        now = time.monotonic()
        if now - self.last < self.interval or self.done >= self.total:
            return
        self.last = now
        rate = (self.done - self.start_done) / max(now - self.t0, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        print(f"hlmm: {self.done}/{self.total} SNPs ({100.0 * self.done / self.total:.1f} %), "
              f"{rate:.3g} SNPs/s, about {_duration(left)} left", file=sys.stderr, flush=True)


def _duration(s):
    if s == float("inf"):
        return "? s"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h} h {m} min" if h else f"{m} min {sec} s" if m else f"{sec} s"


class signals_interrupt:
    """Within the block, SIGTERM and SIGINT raise :class:`Interrupted` in the main thread
    and set ``stop`` (an Event the workers poll between SNPs)."""

    def __init__(self, stop):
        self.stop = stop
        self.saved = {}

    def _handler(self, signum, frame):
        self.stop.set()
        raise Interrupted(signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.saved[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, h in self.saved.items():
            signal.signal(sig, h)
        return False
