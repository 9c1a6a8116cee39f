"""The package's layout (docs/architecture.md): every subpackage imports on its own, no module takes
part in an import cycle (counting the imports inside functions), nothing outside `callback` imports
torch or transformers at import time, every documented public name and entry point loads, and modules
and functions stay small enough to read whole."""

import ast
import importlib
import json
import os
import subprocess
import sys
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "tb_attention_plugin"
# source folder -> the dotted name it is installed as (setup.py's package_dir)
SOURCES = {os.path.join(ROOT, PACKAGE): PACKAGE, os.path.join(ROOT, "callback"): f"{PACKAGE}.callback"}
SUBPACKAGES = [
    PACKAGE,
    f"{PACKAGE}.format",
    f"{PACKAGE}.writer",
    f"{PACKAGE}.reading",
    f"{PACKAGE}.analysis",
    f"{PACKAGE}.server",
    f"{PACKAGE}.server.provider",
    f"{PACKAGE}.tools",
    f"{PACKAGE}.devtools",
    f"{PACKAGE}.callback",
    f"{PACKAGE}.callback.capture",
    f"{PACKAGE}.callback.probes",
]
HEAVY = ("torch", "transformers", "accelerate", "lightning", "pytorch_lightning", "peft")
MAX_FUNCTION_LINES = 50  # from `def` to its last line, docstring included
MAX_MODULE_LINES = 400


def _modules():
    """{dotted name: (path, is a package)} of every module of the product."""
    found = {}
    for source, dotted in SOURCES.items():
        for folder, dirs, files in os.walk(source):
            dirs[:] = [d for d in dirs if os.path.exists(os.path.join(folder, d, "__init__.py"))]
            rel = os.path.relpath(folder, source)
            prefix = dotted if rel == "." else dotted + "." + rel.replace(os.sep, ".")
            for f in files:
                if f.endswith(".py"):
                    name = prefix if f == "__init__.py" else f"{prefix}.{f[:-3]}"
                    found[name] = (os.path.join(folder, f), f == "__init__.py")
    return found


MODULES = _modules()


def _imports(name):
    """[(imported module, at module level)] of one product module, relative imports resolved, inside
    functions included; `from package import module` counts as an import of that module."""
    path, is_package = MODULES[name]
    tree = ast.parse(open(path, encoding="utf-8").read())
    top = set(map(id, tree.body))
    base = name.split(".") if is_package else name.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = ".".join(base[: len(base) - node.level + 1] + ([module] if module else []))
            for a in node.names:
                sub = f"{module}.{a.name}"
                found.append((sub if sub in MODULES else module, id(node) in top))
    return found


def _graph():
    return {name: {m for m, _ in _imports(name) if m in MODULES and m != name} for name in MODULES}


def _cycle(graph):
    """One cycle of a directed graph as a list of nodes, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_the_layout_is_found():
    assert set(SUBPACKAGES) <= set(MODULES)
    assert {p for p, (_, is_package) in MODULES.items() if is_package} == set(SUBPACKAGES)
    assert f"{PACKAGE}.format.metadata" in MODULES and f"{PACKAGE}.callback.capture.probe_pass" in MODULES


def test_no_module_is_in_an_import_cycle():
    """Imports inside functions count: a cycle they hide is still a cycle."""
    graph = _graph()
    for name, targets in graph.items():  # importing a module runs its packages' __init__ first: not an edge
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_no_subpackage_is_in_an_import_cycle():
    """The parts of docs/architecture.md depend on each other one way only."""

    def part(name):
        return max((p for p in SUBPACKAGES if name == p or name.startswith(p + ".")), key=len)

    graph = {}
    for name, targets in _graph().items():
        graph.setdefault(part(name), set()).update(
            part(t) for t in targets if part(t) != part(name) and not part(name).startswith(part(t) + ".")
        )
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_nothing_outside_callback_imports_heavy_libraries_at_import_time():
    product = [n for n in MODULES if not n.startswith(f"{PACKAGE}.callback")]
    heavy = [
        (name, module)
        for name in product
        for module, at_top in _imports(name)
        if at_top and module.split(".")[0] in HEAVY
    ]
    assert not heavy


def _fresh(code):
    """Run code in a fresh interpreter from outside the checkout's root (the installed package)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=os.path.dirname(ROOT))
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_subpackage_imports_alone(package):
    """A fresh interpreter imports the subpackage and then each of its own modules, in order: no module
    depends on another having been imported first."""
    own = sorted(n for n in MODULES if n.rsplit(".", 1)[0] == package and not MODULES[n][1])
    if package.startswith(f"{PACKAGE}.callback"):
        pytest.importorskip("torch")
        pytest.importorskip("transformers")
    code = "import importlib\n" + "\n".join(f"importlib.import_module({m!r})" for m in [package] + own)
    _fresh(code + f"\nimport {package} as p\nprint(p.__file__)")


def test_the_tensorboard_side_imports_nothing_heavy():
    """What TensorBoard loads (the entry point, then the plugin) and every product module outside
    `callback`: no torch or transformers."""
    product = sorted(n for n in MODULES if not n.startswith(f"{PACKAGE}.callback"))
    entry = _entry_point()[0]
    out = _fresh(
        "import importlib, json, sys\n"
        f"importlib.import_module({entry!r})\n"
        "first = sorted(m for m in sys.modules if m.startswith('tb_attention_plugin'))\n"
        f"for m in {product!r}: importlib.import_module(m)\n"
        f"print(json.dumps([first, [m for m in {HEAVY!r} if m in sys.modules]]))"
    )
    loaded_at_start, heavy = json.loads(out)
    assert not heavy
    assert set(loaded_at_start) <= {
        PACKAGE,
        f"{PACKAGE}.server",
        f"{PACKAGE}.server.entry",
        f"{PACKAGE}.format",
        f"{PACKAGE}.format.metadata",
        f"{PACKAGE}.reading",
        f"{PACKAGE}.reading.storage",
    }, loaded_at_start


def _pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _entry_point():
    module, attr = _pyproject()["project"]["entry-points"]["tensorboard_plugins"]["attention"].split(":")
    return module, attr


def test_the_documented_public_names_import():
    import tb_attention_plugin

    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tb_attention_plugin import AttentionCallback, AttentionRecorder, AttentionSummaryWriter, read_run  # noqa: F401
    from tb_attention_plugin.callback.replay import replay

    for name in tb_attention_plugin.__all__:
        assert getattr(tb_attention_plugin, name) is not None, name
    callback = importlib.import_module(f"{PACKAGE}.callback")
    for name in callback.__all__:
        assert getattr(callback, name) is not None, name
    assert callable(replay)


def test_the_lightning_callback_imports():
    if importlib.util.find_spec("lightning") is None and importlib.util.find_spec("pytorch_lightning") is None:
        pytest.skip("no Lightning")
    from tb_attention_plugin.callback.lightning import AttentionLightningCallback

    assert callable(AttentionLightningCallback)


def test_the_console_script_and_the_tensorboard_entry_point_load():
    from tensorboard.plugins import base_plugin

    module, attr = _pyproject()["project"]["scripts"]["tb-attention"].split(":")
    assert callable(getattr(importlib.import_module(module), attr))
    module, attr = _entry_point()
    loader = getattr(importlib.import_module(module), attr)
    assert issubclass(loader, base_plugin.TBLoader)


def _source_files():
    """{path relative to the checkout, with '/': its source} of every product module."""
    return {
        os.path.relpath(path, ROOT).replace(os.sep, "/"): open(path, encoding="utf-8").read()
        for path, _ in MODULES.values()
    }


def test_no_product_function_is_over_50_lines():
    long = [
        f"{rel}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for rel, source in _source_files().items()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"split these into named steps of at most {MAX_FUNCTION_LINES} lines: {long}"


def test_no_product_module_is_over_400_lines():
    long = [
        f"{rel}: {len(source.splitlines())} lines"
        for rel, source in _source_files().items()
        if len(source.splitlines()) > MAX_MODULE_LINES
    ]
    assert not long, f"give part of these a module of its own (at most {MAX_MODULE_LINES} lines): {long}"
