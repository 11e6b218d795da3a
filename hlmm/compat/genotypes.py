"""Kept for imports of hlmm 2.0: the genotype readers live in :mod:`hlmm.io`."""
from ..io.bed import BED_MAGIC, BedFile, bed_prefix  # noqa: F401
