"""The APIs of earlier versions, kept working: ``hetlm`` and ``hetlmm`` (hlmm 1.x's
``hlmm.hetlm.model``, ``hlmm.hetlmm.model``, ``hlmm.hetlmm.simulate``) and ``genotypes``
(hlmm 2.0's ``hlmm.genotypes``).  ``import hlmm.hetlm`` etc. still work: the package's
``__init__`` serves the old names from here.  Imports ``hlmm.models`` and ``hlmm.sim``.
"""
