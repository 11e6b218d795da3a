"""The genome scan (``hlmm chr``): every SNP's mean and variance effect.

- ``genome_scan``: :class:`GenomeScan`, what one phenotype's SNP fits share (sample,
  null model, engine) and the fit of a block of SNPs; ``config``: :class:`ScanConfig`,
  the run's options;
- ``inputs``: the genotype file, phenotypes and selections a run reads once;
- ``class_engines``, ``dosage_engine``: fits from genotype-class (dosage-value)
  statistics; ``ld_grams``: the HLMM's class Grams updated from a recent SNP's
  (linkage disequilibrium); ``levene``: the Brown–Forsythe test; ``block_fits``: a
  block's outcomes;
- ``many_phenotypes``: many phenotypes over one pass of the genotypes; ``union_fits``:
  a block's HLM fits of every phenotype at once;
- ``run``: the runner (outputs, checkpoints, threads); ``checkpoint``: ``--resume``,
  locks, progress, signals; ``dask_cluster``: blocks on a Dask cluster.

Imports ``hlmm.models``, ``hlmm.io`` and below; the commands import it, never the
reverse.
"""
