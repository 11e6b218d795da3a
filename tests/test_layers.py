"""The tree shows the architecture (ARCHITECTURE.md): layers import only downwards, no
import circle, no module too long, few modules at the top."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "hlmm"
if not ROOT.is_dir():       # tests run against an installed package
    import hlmm

    ROOT = pathlib.Path(hlmm.__file__).parent

# bottom up; a module may import its own layer and those below
LAYERS = [
    ("hlmm._core", "hlmm.errors", "hlmm._threads", "hlmm._version"),
    ("hlmm.models",),
    ("hlmm.io",),
    ("hlmm.scan",),
    ("hlmm.fit_run", "hlmm.plots", "hlmm.sim", "hlmm.compat"),
    ("hlmm.cli",),
]
FACE = 5        # the package itself (HLM, HLMM, __version__): what the commands may use


def _modules():
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


MODULES = _modules()


def _imports(name):
    """Every hlmm module ``name`` imports (anywhere in it, lazy imports too), with
    whether the import runs when the module is imported (top level)."""
    path, is_pkg = MODULES[name]
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    pkg = name.split(".") if is_pkg else name.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod]
            # `from pkg import submodule`
            targets += [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for t in targets:
            if t == "hlmm" or t.startswith("hlmm."):
                while t not in MODULES and "." in t:
                    t = t.rsplit(".", 1)[0]
                found.append((t, id(node) in top))
    return found


def _layer(name):
    if name == "hlmm":
        return FACE
    best = None
    for k, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if name == p or name.startswith(p + "."):
                if best is None or len(p) > best[1]:
                    best = (k, len(p))
    assert best is not None, f"{name} is in no layer: add it to LAYERS"
    return best[0]


def test_no_import_runs_up_the_layers():
    bad = [(m, t) for m in MODULES for t, _ in _imports(m)
           if t != m and _layer(t) > _layer(m)]
    assert bad == []


def test_no_import_circle():
    graph = {m: {t for t, top in _imports(m) if top and t != m} for m in MODULES}
    state = {}

    def visit(m, stack):
        state[m] = 1
        for t in graph.get(m, ()):
            if t.startswith(m + "."):
                continue    # a package importing its own submodules is no circle
            if state.get(t) == 1:
                pytest.fail(f"import circle: {' -> '.join(stack[stack.index(t):] + [t])}")
            if t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_modules_are_short_and_the_top_is_small():
    long = {m: n for m, (p, _) in MODULES.items()
            if (n := len(p.read_text().splitlines())) > 600}
    assert long == {}
    top = [p.name for p in ROOT.glob("*.py")]
    assert len(top) <= 6, top


def test_each_package_says_what_lives_there():
    for m, (path, is_pkg) in MODULES.items():
        if is_pkg:
            doc = ast.get_docstring(ast.parse(path.read_text()))
            assert doc and len(doc) > 40, m


def test_the_checker_sees_a_violation(tmp_path):
    """The checks can fail: an upward import is recognised as one."""
    assert _layer("hlmm.io.bed") < _layer("hlmm.scan.run")
    assert _layer("hlmm.models.hlm") < _layer("hlmm.io.tables")
    assert ("hlmm.io.output", True) in _imports("hlmm.scan.run")
    assert any(t == "hlmm.models.hlmm" for t, _ in _imports("hlmm.fit_run"))
