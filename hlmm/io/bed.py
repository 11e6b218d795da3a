"""PLINK .bed/.bim/.fam access, streamed in SNP blocks (bed-reader underneath).

The .bed is never read whole: dosages come a block of SNPs at a time, and the raw
packed bytes of a block can be read for the compiled class-statistics kernels.
"""
import os

import numpy as np

from ..errors import InputError
from . import first_duplicate

BED_MAGIC = bytes([0x6C, 0x1B, 0x01])


def bed_prefix(path):
    return path[:-4] if path.endswith(".bed") else path


class BedFile:
    """A PLINK 1 binary fileset, checked on opening (a genotype source: see
    :mod:`hlmm.io`).

    ``option`` names where the path came from, for error messages.
    """

    format = "bed"
    match_by_iid = False
    has_dosages = False

    def __init__(self, path, option="GENOFILE", count_a1=True, num_threads=None):
        import bed_reader

        prefix = bed_prefix(str(path))
        self.path = prefix + ".bed"
        self.abspath = os.path.abspath(self.path)  # for workers with another cwd
        self.option = option
        for ext in (".bed", ".bim", ".fam"):
            if not os.path.isfile(prefix + ext):
                raise InputError(f"{prefix + ext}: file not found ({option} {self.path})")
        with open(self.path, "rb") as fh:
            magic = fh.read(3)
        if len(magic) < 3 or magic[:2] != BED_MAGIC[:2]:
            raise InputError(f"{self.path}: not a PLINK .bed file (wrong magic number)")
        if magic[2] != 0x01:
            raise InputError(f"{self.path}: individual-major .bed files are not supported; "
                             "convert with plink --make-bed")
        try:
            self._bed = bed_reader.open_bed(self.path, count_A1=count_a1,
                                            num_threads=num_threads, skip_format_check=True)
            self.fid = np.asarray(self._bed.fid, dtype=str)
            self.iid = np.asarray(self._bed.iid, dtype=str)
            self.sid = np.asarray(self._bed.sid, dtype=str)
            self.chromosome = np.asarray(self._bed.chromosome, dtype=str)
            self.bp_position = np.asarray(self._bed.bp_position)
            self.allele_1 = np.asarray(self._bed.allele_1, dtype=str)
            self.allele_2 = np.asarray(self._bed.allele_2, dtype=str)
        except Exception as exc:  # bed-reader raises assorted errors on malformed .bim/.fam
            raise InputError(f"{prefix}.bim/.fam: cannot read ({str(exc).splitlines()[0]})") from None
        self.count_a1 = count_a1
        self.n_samples = len(self.iid)
        self.n_snps = len(self.sid)
        if self.n_samples == 0:
            raise InputError(f"{prefix}.fam: no individuals")
        self._check_unique_ids(prefix + ".fam")
        self.bytes_per_snp = (self.n_samples + 3) // 4
        expected = 3 + self.n_snps * self.bytes_per_snp
        actual = os.path.getsize(self.path)
        if actual != expected:
            what = "truncated" if actual < expected else "longer than expected"
            raise InputError(
                f"{self.path}: {what}: {self.n_snps} SNPs × {self.n_samples} individuals "
                f"need {expected} bytes, the file has {actual}"
            )

    def _check_unique_ids(self, fam):
        """Individuals are matched by (FID, IID): a repeated pair would be ambiguous."""
        dup = first_duplicate(self.fid, self.iid)
        if dup is not None:
            k, later = dup
            raise InputError(f"{fam} line {later + 1}: duplicate individual {self.fid[k]} "
                             f"{self.iid[k]} (first on line {k + 1}; {self.option} "
                             f"{self.path})")

    def __getstate__(self):
        # bed-reader's handle does not pickle; Dask workers reopen the file by path.
        state = self.__dict__.copy()
        state["_bed"] = None
        return state

    def __setstate__(self, state):
        import bed_reader

        self.__dict__.update(state)
        self._bed = bed_reader.open_bed(self.abspath, count_A1=self.count_a1,
                                        skip_format_check=True,
                                        properties={"fid": self.fid, "iid": self.iid,
                                                    "sid": self.sid})

    @property
    def ids(self):
        return list(zip(self.fid.tolist(), self.iid.tolist()))

    def counted_alleles(self):
        """(counted, other) allele arrays: A1 is counted unless ``count_a1=False``."""
        if self.count_a1:
            return self.allele_1, self.allele_2
        return self.allele_2, self.allele_1

    def read_dosages(self, start, stop, sample_index):
        """Counted-allele dosages, ``len(sample_index) × (stop−start)`` float64, NaN = missing."""
        return self._bed.read(index=np.s_[sample_index, start:stop], dtype=np.float64,
                              order="C")

    def unusable(self, start, stop):
        """Every .bed variant is biallelic and diploid."""
        return []

    def read_packed(self, start, stop):
        """The raw .bed bytes of SNPs ``start..stop-1``: ``(stop−start) × bytes_per_snp`` uint8."""
        count = (stop - start) * self.bytes_per_snp
        with open(self.abspath, "rb") as fh:
            fh.seek(3 + start * self.bytes_per_snp)
            buf = np.frombuffer(fh.read(count), dtype=np.uint8)
        if buf.size != count:
            raise InputError(f"{self.path}: truncated while reading SNPs {start}..{stop - 1}")
        return buf.reshape(stop - start, self.bytes_per_snp)
