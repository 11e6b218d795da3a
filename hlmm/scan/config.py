"""What one ``hlmm chr`` run was asked to do: :class:`ScanConfig`, one field per option of
the command (``hlmm.cli.chr`` fills it; the scan, its engines and the checkpoint
fingerprint read it).
"""
from dataclasses import dataclass


@dataclass
class ScanConfig:
    genofile: str
    start: int
    end: int
    phenofile: str
    outprefix: str
    whole_chr: bool = False
    mean_covar: str = None
    var_covar: str = None
    fit_covariates: bool = False
    random_gts: tuple = ()
    random_gts_txt: bool = False
    h2_init: float = 0.05
    phen_index: object = None  # 1-based column(s): an int or a list such as "1-5,8"
    pheno_name: str = None     # column name(s), comma-separated
    all_pheno: bool = False    # every phenotype column (hlmm.io.phenotypes)
    min_maf: float = 0.05
    max_missing: float = 5.0
    mac: float = None          # minor allele count floor (hlmm.scan.snp_filters)
    hwe: float = None          # Hardy–Weinberg exact test p floor
    mind: float = None         # individuals' missing-call rate ceiling over the test SNPs
    missing_char: str = "NA"
    input_missing_phenotype: float = -9.0   # PLINK's numeric missing value; None = none
    append: bool = False
    no_covariate_estimates: bool = False
    no_h2_estimate: bool = False
    count_a2: bool = False    # count the second allele (= ref_first)
    ref_first: bool = False   # the first allele is REF: count the second
    ref_last: bool = False    # the last allele is REF: count the first
    id_delim: str = "_"       # FID/IID delimiter of IDs embedded in a .bgen
    threads: int = None
    block_size: int = None    # SNPs per block; None = 1000 for the HLM, 16 with random effects
    engine: str = "auto"      # "auto" (fast class statistics where valid) or "general"
    robust: bool = False      # sandwich SEs (hlmm.models.robust) instead of model-based ones
    robust_estimator: str = "pooled"
    brown_forsythe: bool = False
    sample: str = None        # BGEN: the .sample file of the .bgen inputs
    keep: str = None          # PLINK-style selection
    remove: str = None
    extract: str = None
    exclude: str = None
    chr: str = None
    from_bp: int = None
    to_bp: int = None
    dask_scheduler: str = None
    dask_workers: int = None
    resume: bool = False      # continue an interrupted run (hlmm.scan.checkpoint)
    interaction: str = None   # GxE: a --mean-covar column (hlmm.scan.interaction)
    interaction_var: bool = False   # g·E in the variance model too
    rint: bool = False        # rank-inverse-normal phenotype on the analysed sample
    cat_covar: str = None     # categorical covariate columns (hlmm.io.categorical)
    cat_base: tuple = ()      # NAME=LEVEL baselines
    pred: str = None          # REGENIE's PREFIX_pred.list: y − LOCO_c (hlmm.scan.chrom_groups)
    sex: str = None           # FID IID SEX file (hlmm.io.sex); default: the genotype file's
    xchr_model: int = 2       # males on chrX: 2 = 0/2, 1 = 0/1, 0 = skip (hlmm.scan.xchr)
    no_x_sex: bool = False    # no sex covariate on chrX
    command: str = ""
