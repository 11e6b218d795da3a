"""What every phenotype of a scan shares: the genotype source and the selected SNPs and
individuals, the phenotype and covariate tables matched once, the selected phenotypes,
and the random-effects designs (one per distinct analysis sample)."""
import sys

import numpy as np

from ..io import (bgen_only, check_sample_option, count_first_option, counted_allele_text,
                  open_genotypes)
from ..io.random_effects import RandomEffectsInput
from ..io.sample_ids import resolve_sample_ids
from ..io.tables import read_table


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

        from .snp_filters import check_options

        check_options(cfg)
        count_first = count_first_option(cfg.ref_first, cfg.ref_last, cfg.count_a2)
        check_sample_option(cfg.sample, (cfg.genofile,) + tuple(
            () if cfg.random_gts_txt else cfg.random_gts))
        self.geno = open_genotypes(cfg.genofile, "GENOFILE", count_first=count_first,
                                   sample_file=bgen_only(cfg.genofile, cfg.sample),
                                   num_threads=cfg.threads)
        pheno = read_table(cfg.phenofile, cfg.missing_char, cfg.input_missing_phenotype)
        ids_note = resolve_sample_ids(self.geno, pheno, cfg.id_delim)
        start, stop = (None, None) if cfg.whole_chr else (cfg.start, cfg.end)
        snps, steps = select_variants(
            self.geno.sid, self.geno.chromosome, self.geno.bp_position, start, stop,
            chroms=cfg.chr, from_bp=cfg.from_bp, to_bp=cfg.to_bp,
            extract=read_variant_list(cfg.extract, "--extract") if cfg.extract else None,
            exclude=read_variant_list(cfg.exclude, "--exclude") if cfg.exclude else None,
            source_name=self.geno.path)
        self.snps = np.asarray(snps, dtype=np.intp)
        log(f"Test genotypes: {self.geno.path} ({self.geno.format}): {self.geno.n_samples} "
            f"individuals, {self.geno.n_snps} SNPs; testing {len(self.snps)}, counting the "
            f"{counted_allele_text(self.geno)} allele"
            + (f" (the .{self.geno.format} default; --ref-first or --ref-last to choose)"
               if count_first is None else "")
            + (", dosages where stored" if self.geno.has_dosages else ""))
        if ids_note:
            log(ids_note)
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
        # individuals of the genotype file left out before matching, by reason (logged
        # with the phenotype's own removals, so every individual is accounted for)
        self.dropped = {"--keep/--remove": self.geno.n_samples - len(geno_ids)}
        if cfg.mind is not None:
            geno_ids = self._mind(cfg, log, geno_ids)
        self.random = (RandomEffectsInput(cfg.random_gts, cfg.random_gts_txt,
                                          cfg.missing_char, cfg.threads,
                                          sample_file=cfg.sample)
                       if cfg.random_gts else None)
        random = self.random
        if random is not None:
            for note in random.match_ids(pheno, cfg.id_delim):
                log(note)
        self.frame = SampleFrame.read(
            cfg.phenofile, cfg.missing_char, cfg.mean_covar, cfg.var_covar,
            order_ids=geno_ids,
            other_ids=[("--random-gts", ids) for ids in random.ids] if random else (),
            missing_number=cfg.input_missing_phenotype,
            by_iid=self.geno.match_by_iid or (random is not None and random.match_by_iid),
            pheno_table=pheno, categorical=_categorical(cfg))
        rows = self.frame.rows
        matched = np.zeros(len(self.frame.pheno.ids), dtype=bool)
        matched[rows[rows >= 0]] = True      # (a scatter: np.unique sorted 100,000 rows)
        self.unmatched_rows = len(matched) - int(np.count_nonzero(matched))
        if random is not None:
            _warn_shared_snps(self.geno, self.snps, random, cfg, log)
        self.phenotypes = select_phenotypes(self.frame.pheno, cfg.phen_index, cfg.pheno_name,
                                            cfg.all_pheno)
        self._designs = {}
        self.grams = {}
        self._last_index = (None, None)

    def _mind(self, cfg, log, geno_ids):
        """--mind: the individuals left, those with too many missing test calls out."""
        from .snp_filters import mind_filter

        keep, _ = mind_filter(self.geno, self.snps, self.order_bed_pos, cfg.mind)
        self.dropped["--mind"] = int((~keep).sum())
        log(f"  --mind {cfg.mind:g}: {int((~keep).sum())} individual(s) with more than "
            f"{100 * cfg.mind:g} % missing calls over the {len(self.snps)} test SNPs "
            f"removed; {int(keep.sum())} left")
        self.order_bed_pos = self.order_bed_pos[keep]
        return [k for k, m in zip(geno_ids, keep.tolist()) if m]

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


def _variant_keys(geno, idx):
    """Per variant ``idx``: its ID and its chrom:pos:alleles key (alleles sorted: either
    may be the counted one)."""
    from ..io.selection import normalise_chrom

    counted, other = geno.counted_alleles()
    where = [f"{normalise_chrom(c)}:{p}:{':'.join(sorted((a, b)))}"
             for c, p, a, b in zip(geno.chromosome[idx].tolist(),
                                   geno.bp_position[idx].tolist(),
                                   counted[idx].tolist(), other[idx].tolist())]
    return geno.sid[idx].tolist(), where


def _warn_shared_snps(geno, snps, random, cfg, log):
    """A test SNP also among the random effects is partly absorbed by them (its effect
    is shrunk towards zero): warn, as the user usually meant a leave-one-chromosome-out
    set."""
    if not random.beds or len(snps) == 0:
        return
    r_ids, r_where = set(), set()
    for b in random.beds:
        i, w = _variant_keys(b, slice(None))
        r_ids.update(i)
        r_where.update(w)
    shared = sum(i in r_ids or w in r_where for i, w in zip(*_variant_keys(geno, snps)))
    if shared:
        msg = (f"warning: {shared} test SNP(s) of {geno.path} are also among the "
               f"--random-gts SNPs ({', '.join(map(str, cfg.random_gts))}), matched by ID "
               "or chromosome:position:alleles: their effects are partly absorbed by the "
               "random effects (use SNPs of other chromosomes as random effects)")
        log(msg)
        print(f"hlmm: {msg}", file=sys.stderr)


def _categorical(cfg):
    """--cat-covar/--cat-base as (names, {name: base}) (hlmm.io.categorical)."""
    from ..errors import InputError

    if not getattr(cfg, "cat_covar", None):
        if getattr(cfg, "cat_base", None):
            raise InputError("--cat-base needs --cat-covar")
        return None
    from ..io.categorical import parse_options

    return parse_options(cfg.cat_covar, cfg.cat_base)
