"""``OUTPREFIX.log`` while a scan runs.

The final log is written atomically with the tables (:mod:`hlmm.scan.run`).  A job killed
by the scheduler never gets there, yet its log is what says which individuals and null
model its ``.models.partial`` rows belong to; so, from the moment the SNP loop starts,
the log so far is on disk and every later line is appended (and flushed) as it is
logged.  A stop (signal, error) adds its reason.  Nothing is written before the loop: a
bad-input error during setup leaves the prefix as it was.
"""
import os
import tempfile


class Log:
    """Lines for ``OUTPREFIX.log``."""

    sink = None     # also called with each line (LiveLog: the log as the run goes)

    def __init__(self):
        self.lines = []

    def __call__(self, msg):
        self.lines.append(msg)
        if self.sink is not None:
            self.sink(msg)

    def text(self):
        return "\n".join(self.lines) + "\n"

    def __getstate__(self):     # (Dask ships scans, and their log, to its workers)
        return {"lines": self.lines}


class LiveLog:
    """Streams the lines of a :class:`Log` to ``path``; with ``append`` the
    text the file held before (``previous``) stays above this run's lines."""

    def __init__(self, log, path, append=False):
        self.log, self.path = log, path
        self.fh = None
        try:
            with open(path) as fh:
                self._old = fh.read()
        except FileNotFoundError:
            self._old = None
        self.previous = (self._old or "") if append else ""

    def start(self):
        # the file is replaced whole first, so it is never a mix of two runs' lines
        d = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.path) + ".",
                                   suffix=".tmp", dir=d)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.previous + self.log.text())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, self.path)
        self.fh = open(self.path, "a")
        self.log.sink = self._write

    def _write(self, line):
        if self.fh is not None:
            self.fh.write(line + "\n")
            self.fh.flush()

    def stop(self, line):
        """The run ends here (``line`` says why); later lines are not streamed."""
        if self.fh is None:
            return
        self.log(line)
        self.close()

    def close(self):
        # (the final log replaces the file by rename: writes through this handle after
        # that would go to the unlinked old file, so none are made)
        self.log.sink = None
        if self.fh is not None:
            self.fh.close()
            self.fh = None

    def discard(self):
        """The run left nothing else behind: put the file back as it was."""
        if self.fh is None:
            return
        self.close()
        if self._old is not None:
            with open(self.path, "w") as fh:
                fh.write(self._old)
        else:
            os.remove(self.path)
