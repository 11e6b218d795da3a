"""The documentation: the docstrings' examples run, the Sphinx site builds with -W, and its
command reference lists every option of every ``hlmm`` command.

The build needs the ``docs`` tools (also in the ``test`` extra); without them those
tests are skipped, the doctests are not.
"""
import doctest
import importlib
import importlib.util
import pathlib
import re
import subprocess
import sys

import click
import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"

# The public API whose docstrings carry numpydoc Examples.
PUBLIC_MODULES = ["hlmm.models.hlm", "hlmm.models.hlmm", "hlmm.models.results", "hlmm.sim.simulate",
                  "hlmm.compat.hetlm", "hlmm.compat.hetlmm"]
PUBLIC_OBJECTS = ["hlmm.HLM", "hlmm.HLMM", "hlmm.FitResults", "hlmm.simulate"]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name) if t.examples]
    assert tests, f"{name} has no docstring examples"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (output above)"


@pytest.mark.parametrize("name", PUBLIC_OBJECTS + ["hlmm.compat.hetlm.model", "hlmm.compat.hetlmm.model",
                                                    "hlmm.compat.hetlmm.simulate"])
def test_public_docstrings_have_numpydoc_sections(name):
    module, attr = name.rsplit(".", 1)
    doc = getattr(importlib.import_module(module), attr).__doc__
    assert "Parameters\n    ----------" in doc or "Attributes\n    ----------" in doc, name
    if attr != "simulate" or module == "hlmm":
        assert "Examples\n    --------" in doc, name


def _have_sphinx():
    return all(importlib.util.find_spec(m) for m in ("sphinx", "furo", "sphinx_click", "numpydoc",
                                                      "myst_parser"))


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    if not _have_sphinx():
        pytest.skip("the documentation tools are not installed (pip install '.[docs]')")
    if not (DOCS / "conf.py").is_file():
        pytest.skip("no docs/ beside the tests (an installed copy)")
    out = tmp_path_factory.mktemp("html")
    # cwd outside the checkout: `python -m` must import the same hlmm as these tests.
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(DOCS), str(out)], cwd=str(out), capture_output=True, text=True)
    return proc, out


def test_docs_build_without_warnings(built_site):
    proc, out = built_site
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-5000:]
    for page in ("index", "introduction", "install", "tutorial", "scans", "cli", "models", "api",
                 "performance", "changes", "faq"):
        assert (out / f"{page}.html").is_file(), page


def _commands(command, path):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, path + [name])


def test_cli_page_lists_every_option_of_every_command(built_site):
    from hlmm.cli.main import main

    proc, out = built_site
    assert proc.returncode == 0, proc.stderr[-5000:]
    html = (out / "cli.html").read_text()
    ids = set(re.findall(r'id="([^"]+)"', html))
    missing, seen = [], 0
    for path, command in _commands(main, ["hlmm"]):
        if command.hidden:
            continue
        assert "-".join(path) in ids, f"no section for {' '.join(path)}"
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            for opt in param.opts + param.secondary_opts:
                seen += 1
                if f"cmdoption-{'-'.join(path)}-{opt.lstrip('-')}" not in ids:
                    missing.append(f"{' '.join(path)} {opt}")
    assert seen > 50
    assert not missing, f"options missing from the built CLI page: {missing}"


def test_tutorial_page_shows_the_three_figures_and_the_run(built_site):
    proc, out = built_site
    assert proc.returncode == 0, proc.stderr[-5000:]
    html = (out / "tutorial.html").read_text()
    for name in ("qq", "manhattan", "add_var"):
        assert f"_images/tutorial_{name}.png" in html
        assert (out / "_images" / f"tutorial_{name}.png").stat().st_size > 10_000
    # the headline statistics printed by the build's own tutorial run
    assert "median var_t^2" in html and "null_0" in html


def test_api_page_documents_the_public_classes(built_site):
    proc, out = built_site
    assert proc.returncode == 0, proc.stderr[-5000:]
    ids = set(re.findall(r'id="([^"]+)"', (out / "api.html").read_text()))
    for name in PUBLIC_OBJECTS + ["hlmm.HLM.fit", "hlmm.HLMM.fit", "hlmm.compat.hetlm.model",
                                  "hlmm.compat.hetlmm.model", "hlmm.compat.hetlmm.simulate"]:
        assert name in ids, name
