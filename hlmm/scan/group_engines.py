"""The engines of a :class:`~hlmm.scan.chrom_groups.ChromosomeScan`'s groups, kept alive
only while their blocks are fitted.

Every group (a chromosome's LOCO-adjusted trait, chrX) has its own null model and so its
own class-statistics tables: ~64·n bytes per phenotype for the HLM's per-byte subset sums
(128·n with ``--robust``), and for many phenotypes the shared kernel's n × (phenotypes ×
powers) matrix — 23 groups of 100 phenotypes at n = 450,000 would hold 16 GB.  Blocks
come in SNP order, so a group's blocks are consecutive: :class:`EngineCache` builds a
group's tables when its first block starts and releases them once ``keep`` later groups
were needed and none of its blocks is in flight.  Memory is then that of ``keep`` groups.
"""
import threading

from .genome_scan import GenomeScan


def release(scan):
    """Drop the tables ``scan`` (a GenomeScan or a MultiScan) can rebuild."""
    if isinstance(scan, GenomeScan):
        if scan.engine == "classes" and not scan.multi:
            scan._tables = None
    elif scan.engine == "classes":
        scan._Bt = None


def build(scan, robust):
    """Rebuild what :func:`release` dropped (as the scan built it; nothing logged)."""
    if isinstance(scan, GenomeScan):
        if scan.engine == "classes" and not scan.multi and scan._tables is None:
            from .._core import _bed

            scan._tables = _bed.subset_tables(scan.sample_index, scan.y, scan.bed.n_samples,
                                              4 if robust else 2)
    elif scan.engine == "classes" and scan._Bt is None:
        log = scan.log
        scan.log = lambda *a, **k: None
        try:
            scan._setup_union()
        finally:
            scan.log = log


class EngineCache:
    """Which groups' tables are alive (see the module docstring); thread-safe."""

    def __init__(self, scans, robust, keep=2):
        self.scans, self.robust, self.keep = scans, robust, keep
        self._lock = threading.Lock()
        self._live = []           # keys, least recently started first
        self._inflight = {}

    def __getstate__(self):       # (Dask ships the scan to its workers)
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def shelve(self, key):
        """A new group's tables, built with its scan, released until needed."""
        release(self.scans[key])

    def acquire(self, key):
        with self._lock:
            scan = self.scans[key]
            self._inflight[key] = self._inflight.get(key, 0) + 1
            if key in self._live:
                self._live.remove(key)
            else:
                build(scan, self.robust)
            self._live.append(key)
            for old in list(self._live[:-self.keep]):
                if not self._inflight.get(old):
                    release(self.scans[old])
                    self._live.remove(old)
            return scan

    def done(self, key):
        with self._lock:
            self._inflight[key] -= 1
