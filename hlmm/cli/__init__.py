"""The ``hlmm`` command line (click): ``main`` (the group), one module per subcommand
(``chr``, ``fit``, ``tutorial``, ``dispersion``, ``plot``, ``simulate``) and ``options``
(shared options, PLINK-style prefixes, one-line errors).  The top layer: imports
anything below, nothing imports it.
"""
