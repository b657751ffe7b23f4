"""What importing a module costs, and the shape of the package's import graph.

* The workflow's manifest (read by Snakemake at every start) imports no science: planning the
  jobs needs the configuration, not numpy, pandas or scikit-learn.
* No two metpot modules import each other, directly or through others, whether the import is
  at the top of a module or inside a function: modules form layers a reader can take in order.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import metpot

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(metpot.__file__).resolve().parent

#: Modules the manifest must never load (the science, its libraries, plotting, tracking).
HEAVY = (
    "numpy", "pandas", "scipy", "sklearn", "sksurv", "matplotlib", "mlflow", "joblib",
    "metpot.classify.nested_cv", "metpot.classify.models", "metpot.classify.transformers",
    "metpot.snf", "metpot.survival", "metpot.clusters", "metpot.score", "metpot.plots",
)  # fmt: skip

#: Import edges of known cycles, each to be removed by its own change; a cycle through any
#: other edge fails the test. ``metpot.snf.SNF`` (used as such by tests/test_snf.py) is an
#: alias that snf's module ``__getattr__`` imports from snf_estimator, which imports snf (and
#: clusters, which imports snf and consensus, which imports snf): snf -> snf_estimator ->
#: clusters -> snf. Dropping the alias (callers import metpot.snf_estimator.SNF) ends it.
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = {("metpot.snf", "metpot.snf_estimator")}


def test_manifest_imports_no_science():
    code = f"""
import json, sys
from metpot.config import load_config
from metpot import manifest
cfg = load_config({str(REPO / "config" / "config.yaml")!r})
manifest.analysis_steps(cfg)
manifest.classify_config(cfg)
manifest.classify_jobs(cfg)
manifest.classify_fit_rules(cfg)
manifest.signature_targets(cfg)
print(json.dumps(sorted(sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    heavy = sorted(m for m in loaded if m in HEAVY or m.split(".")[0] in HEAVY)
    assert not heavy, f"the manifest loads {heavy}"
    assert "metpot.classify.options" in loaded


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """metpot modules ``name`` imports anywhere in its file (top level, functions, classes),
    and the submodules a lazy package (``_EXPORTS``, loaded by its ``__getattr__``) loads."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.add(sub if sub in modules else base)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets
        ):
            found.update(f"{name}.{sub}" for sub in ast.literal_eval(node.value))
        elif isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "_EXPORTS":
            found.update(f"{name}.{sub}" for sub in ast.literal_eval(node.value))
    return {m for m in found if m in modules and m not in (name, "metpot")}


def import_graph() -> dict[str, set[str]]:
    """metpot module -> the metpot modules it imports."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {name: _imports(path, name, modules) for name, path in sorted(files.items())}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``a -> b -> ... -> a``) per strongly connected component of the graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for comp in components:  # a shortest way back to the start, within the component
        start = min(comp)
        paths = {start: [start]}
        queue = [start]
        while queue:
            v = queue.pop(0)
            for w in sorted(graph[v] & comp):
                if w == start:
                    out.append([*paths[v], start])
                    queue = []
                    break
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    queue.append(w)
    return out


def test_cycles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert "metpot.classify.options" in graph["metpot.manifest.classifiers"]
    for a, b in KNOWN_CYCLE_EDGES:
        assert b in graph[a], f"{a} -> {b} is gone: remove it from KNOWN_CYCLE_EDGES"
        graph[a] = graph[a] - {b}
    found = cycles(graph)
    assert not found, "import cycle(s): " + "; ".join(" -> ".join(c) for c in found)


def _libraries(path: Path) -> set[str]:
    """Top-level packages a module imports anywhere in its file."""
    tree = ast.parse(path.read_text())
    libraries = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                 for a in n.names}  # fmt: skip
    libraries |= {n.module.split(".")[0] for n in ast.walk(tree)
                  if isinstance(n, ast.ImportFrom) and n.module}  # fmt: skip
    return libraries


def test_classify_options_imports_no_science():
    graph = import_graph()
    # the config module: the schema's model names, grids and defaults
    assert graph["metpot.classify.options"] <= {"metpot.errors", "metpot.config"}
    libraries = _libraries(PACKAGE / "classify" / "options.py")
    assert libraries <= {"__future__", "numbers", "collections", "metpot"}, libraries
    assert graph["metpot.config"] <= {"metpot.errors", "metpot.bundle"}
    assert graph["metpot.bundle"] <= {"metpot.errors"}
    libraries = _libraries(PACKAGE / "config.py")
    stdlib = {"__future__", "copy", "functools", "json", "collections", "pathlib", "typing"}
    assert libraries <= stdlib | {"jsonschema", "yaml", "metpot"}, libraries
