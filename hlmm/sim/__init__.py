"""The tutorial's tools: ``simulate`` (:func:`hlmm.simulate`, data from the HLMM),
``genotypes`` (PLINK files of simulated genotypes, streamed) and ``dispersion``
(dispersion effects from a scan's table, the original's R script).  Imports
``hlmm.io`` and below.
"""
