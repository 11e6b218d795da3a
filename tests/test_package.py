"""Packaging: compiled kernels and the command-line entry point."""
import importlib
import importlib.machinery
import pathlib

import pytest
from click.testing import CliRunner

import hlmm
import hlmm._core
from hlmm.cli.main import main

CORE = pathlib.Path(hlmm._core.__file__).parent
PYX = sorted(p.stem for p in CORE.glob("_*.pyx"))


def test_core_has_kernels():
    assert "_hlm" in PYX


@pytest.mark.parametrize("name", PYX)
def test_core_modules_are_compiled_extensions(name):
    mod = importlib.import_module(f"hlmm._core.{name}")
    assert mod.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), mod.__file__
    assert isinstance(mod.__spec__.loader, importlib.machinery.ExtensionFileLoader)


def test_cli_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert "hlmm" in result.output and hlmm.__version__ in result.output


def test_cli_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage:") and "--version" in result.output
