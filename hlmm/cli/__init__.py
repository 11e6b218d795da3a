"""The ``hlmm`` command line (click): ``main`` (the group), one module per subcommand
(``chr``, ``fit``, ``tutorial``, ``dispersion``, ``plot``, ``simulate``), ``options``
(shared options, PLINK-style prefixes, one-line errors) and ``_startup`` (the process's
start-up: no cyclic GC while modules load, numpy submodules no command uses left lazy).  The top layer: imports
anything below, nothing imports it.
"""
