"""What every phenotype of a scan shares: the genotype source and the selected SNPs and
individuals, the phenotype and covariate tables matched once, the selected phenotypes,
and the random-effects designs (one per distinct analysis sample)."""
import numpy as np

from ..errors import InputError
from ..io import open_genotypes
from ..io.random_effects import RandomEffectsInput


class ScanInputs:
    """What every phenotype of a run shares: the genotype source and its selected SNPs
    and individuals, the phenotype and covariate tables matched once
    (:class:`hlmm.io.sample.SampleFrame`), the phenotypes selected, and the random-effects
    genotypes (one standardised G per distinct analysis sample)."""

    def __init__(self, cfg, log):
        from ..io.phenotypes import select_phenotypes
        from ..io.sample import SampleFrame
        from ..io.selection import (read_sample_list, read_variant_list, select_samples,
                                select_variants)

        self.geno = open_genotypes(cfg.genofile, "GENOFILE", count_a1=not cfg.count_a2,
                                   sample_file=cfg.sample, num_threads=cfg.threads)
        if cfg.count_a2 and self.geno.format != "bed":
            raise InputError(f"--count-a2 is for .bed files; {self.geno.path} counts "
                             f"{'ALT' if self.geno.format == 'pgen' else 'the second allele'}")
        start, stop = (None, None) if cfg.whole_chr else (cfg.start, cfg.end)
        snps, steps = select_variants(
            self.geno.sid, self.geno.chromosome, self.geno.bp_position, start, stop,
            chroms=cfg.chr, from_bp=cfg.from_bp, to_bp=cfg.to_bp,
            extract=read_variant_list(cfg.extract, "--extract") if cfg.extract else None,
            exclude=read_variant_list(cfg.exclude, "--exclude") if cfg.exclude else None,
            source_name=self.geno.path)
        self.snps = np.asarray(snps, dtype=np.intp)
        counted = {"bed": "A2" if cfg.count_a2 else "A1", "pgen": "ALT",
                   "bgen": "second"}[self.geno.format]
        log(f"Test genotypes: {self.geno.path} ({self.geno.format}): {self.geno.n_samples} "
            f"individuals, {self.geno.n_snps} SNPs; testing {len(self.snps)}, counting the "
            f"{counted} allele" + (", dosages where stored" if self.geno.has_dosages else ""))
        for desc, k in steps:
            log(f"  {desc}: {k}")
        geno_ids = self.geno.ids
        self.order_bed_pos = np.arange(len(geno_ids), dtype=np.intp)
        if cfg.keep or cfg.remove:
            mask, steps = select_samples(
                geno_ids, read_sample_list(cfg.keep, "--keep") if cfg.keep else None,
                read_sample_list(cfg.remove, "--remove") if cfg.remove else None,
                by_iid=self.geno.match_by_iid, source_name=self.geno.path)
            mask = np.asarray(mask, dtype=bool)
            geno_ids = [k for k, m in zip(geno_ids, mask) if m]
            self.order_bed_pos = np.flatnonzero(mask).astype(np.intp)
            for desc, k in steps:
                log(f"  {desc}: {k}")
        self.random = (RandomEffectsInput(cfg.random_gts, cfg.random_gts_txt,
                                          cfg.missing_char, cfg.threads)
                       if cfg.random_gts else None)
        random = self.random
        self.frame = SampleFrame.read(
            cfg.phenofile, cfg.missing_char, cfg.mean_covar, cfg.var_covar,
            order_ids=geno_ids,
            other_ids=[("--random-gts", ids) for ids in random.ids] if random else (),
            missing_number=cfg.input_missing_phenotype,
            by_iid=self.geno.match_by_iid or (random is not None and random.match_by_iid))
        self.phenotypes = select_phenotypes(self.frame.pheno, cfg.phen_index, cfg.pheno_name,
                                            cfg.all_pheno)
        self._designs = {}
        self.grams = {}
        self._last_index = (None, None)

    def sample_index(self, sample):
        """The genotype file positions of ``sample``'s individuals; phenotypes with the
        same individuals (SampleFrame shares their ``order_pos``) share one array."""
        pos, index = self._last_index
        if pos is not sample.order_pos:
            pos, index = sample.order_pos, self.order_bed_pos[sample.order_pos]
            self._last_index = (pos, index)
        return index

    def random_design(self, sample, log):
        """The standardised random-effects design of ``sample`` (None without
        --random-gts); phenotypes with the same analysis sample share one array."""
        if self.random is None:
            return None
        key = sample.order_pos.tobytes()
        if key not in self._designs:
            self._designs[key] = self.random.design(sample.ids, log, sample.by_iid)
        else:
            log("Random-effects design: shared with an earlier phenotype (same individuals)")
        return self._designs[key]
