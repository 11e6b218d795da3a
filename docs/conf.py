"""Sphinx configuration of hlmm's documentation.

Build: ``pip install '.[docs]'`` then ``python -m sphinx -W --keep-going -b html docs
docs/_build/html``.  The build runs ``hlmm tutorial`` at its default size (a few seconds)
into ``docs/_generated/`` so that the tutorial page shows figures and numbers of the code
being documented, never stale ones.
"""
import os
import pathlib
import shutil
import subprocess
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent


def _import_hlmm():
    """The installed hlmm, or the source tree's when its extensions are built.

    ``python -m sphinx`` run at the root of a checkout puts the checkout first on sys.path;
    after a plain ``pip install '.[docs]'`` its ``hlmm/`` has no compiled extensions, so
    the installed copy is the one to document.
    """
    try:
        import hlmm  # noqa: F401
        return hlmm
    except ImportError:
        here = {str(ROOT), "", "."}
        sys.path[:] = [p for p in sys.path if p not in here and pathlib.Path(p or ".").resolve() != ROOT]
        for name in [m for m in sys.modules if m == "hlmm" or m.startswith("hlmm.")]:
            del sys.modules[name]
        import hlmm
        return hlmm


hlmm = _import_hlmm()
HLMM_PATH = str(pathlib.Path(hlmm.__file__).resolve().parents[1])

project = "hlmm"
author = "the hlmm authors"
copyright = "the hlmm authors"
release = hlmm.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_click",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated/tutorial", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"hlmm {release}"

# Offline reading: the default MathJax comes from a CDN; HLMM_DOCS_MATHJAX names a local
# copy instead (e.g. Debian's libjs-mathjax, for a browser without network).
if os.environ.get("HLMM_DOCS_MATHJAX"):
    mathjax_path = os.environ["HLMM_DOCS_MATHJAX"]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
# numpydoc: the classes' attribute and method tables would be generated stub pages; the
# API page lists the members through autodoc instead.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


def _tutorial_run():
    """Run ``hlmm tutorial`` (default size) and keep its figures and printed statistics."""
    out = DOCS / "_generated"
    run_dir = out / "tutorial"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    out.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=HLMM_PATH + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # cwd outside the checkout, so that `python -m` imports the same hlmm as this build.
    proc = subprocess.run([sys.executable, "-m", "hlmm.cli.main", "tutorial", str(run_dir)],
                          cwd=str(out), env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"hlmm tutorial failed while building the docs:\n{proc.stderr}")
    (out / "tutorial_stdout.txt").write_text(proc.stdout)
    for name in ("qq", "manhattan", "add_var"):
        shutil.copyfile(run_dir / f"out_hlm.{name}.png", out / f"tutorial_{name}.png")
    shutil.rmtree(run_dir)


_tutorial_run()

# The command help texts name options (`--whole-chr`): no smart dashes or quotes.
smartquotes = False
