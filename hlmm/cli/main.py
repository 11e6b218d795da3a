"""Entry point of the ``hlmm`` command: a click group; each subcommand lives in its own module."""
from hlmm.cli import _startup

_startup.begin()
_startup.defer_numpy_submodules()

import click  # noqa: E402

from hlmm import __version__  # noqa: E402


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hlmm")
def main():
    """Heteroskedastic linear (mixed) models: genome scans of SNP effects on the mean
    and the variance of a trait."""


def _register():
    # Imported here so that `hlmm --help` lists every subcommand that is installed.
    import importlib

    for module in ("hlmm.cli.chr", "hlmm.cli.fit", "hlmm.cli.tutorial", "hlmm.cli.dispersion", "hlmm.cli.plot",
                   "hlmm.cli.simulate"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        for command in getattr(mod, "COMMANDS", ()):
            main.add_command(command)


_register()
_startup.ready()

if __name__ == "__main__":
    main()
