"""The models: the HLM and the HLMM, their likelihoods, fits, standard errors and results.

- ``hlm``: :class:`HLM`, Newton on the profile likelihood with the exact Hessian;
  ``hlm_intercept``: its closed form with intercept-only designs.
- ``hlmm``: :class:`HLMM`, O(n·l²) per evaluation through low-rank identities (its
  likelihood at one point in ``hlmm_points``);
  ``hlmm_classes``: the HLMM of one SNP from genotype-class statistics (DESIGN.md §3);
  ``hlmm_carriers``: of one dosage SNP (the modal value a class, each carrier a row).
- ``robust``: sandwich covariances (per individual and from class moments).
- ``results``: :class:`FitResults`, statsmodels style; ``_validate``: design checks.

Imports only ``hlmm._core``, ``hlmm.errors`` and ``hlmm._threads``: no files, no scan.
"""
