"""The ``hlmm`` command line (click)."""
