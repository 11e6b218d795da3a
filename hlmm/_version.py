"""The installed version, for logs and ``hlmm --version`` (every layer may ask)."""


def version():
    from importlib.metadata import PackageNotFoundError, version as _version

    try:
        return _version("hlmm")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"
