"""The package follows the data path: each step imports only the steps below it, and no cycles.

corpus -> encoders -> index (the store) -> indexing (the write path) ->
query (the read path) -> evaluate -> train -> interfaces (cli, server).
`errors`, `vectors`, `progress` and `files` are the base every step may use.
Every import counts, including those inside functions, since a lazy import
is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "embedsearch"
LAYERS = {
    "errors": 0, "vectors": 0, "progress": 0, "files": 0,
    "corpus": 1, "encoders": 2, "index": 3, "indexing": 4, "distributed": 5, "export": 5,
    "query": 6, "evaluate": 7, "train": 8, "cli": 9, "server": 9,
    "__init__": 10, "__main__": 10,
}
# The one sibling import allowed: the CLI's `serve` command starts the server (never the reverse).
SIBLING_IMPORTS = {("cli", "server")}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, package: Path = PACKAGE) -> set[str]:
    """Absolute names of the embedsearch modules `path` imports, anywhere in it."""
    name = module_name(path, package)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("embedsearch"):
                if node.module:  # `from .. import query` names only the module it imports
                    found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("embedsearch"))
    return found


def step_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_step_is_known():
    steps = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.is_file() and p.suffix == ".py") or (p / "__init__.py").exists()}
    assert steps <= set(LAYERS), f"give these a layer: {sorted(steps - set(LAYERS))}"


def upward_imports(package: Path = PACKAGE) -> list[str]:
    wrong = []
    for path in package.rglob("*.py"):
        own = step_of(module_name(path, package))
        for target in imported_modules(path, package):
            step = step_of(target)
            if step in LAYERS and step != own and LAYERS[step] >= LAYERS[own] \
                    and (own, step) not in SIBLING_IMPORTS:
                wrong.append(f"{module_name(path, package)} imports {target}")
    return sorted(wrong)


def test_no_step_imports_a_higher_or_sibling_step():
    wrong = upward_imports()
    assert not wrong, "upward imports:\n" + "\n".join(wrong)


def test_no_import_cycles_between_modules():
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: {t for t in imported_modules(path) if t in modules and t != name}
             for name, path in modules.items()}
    # A package's __init__ re-exports its modules: edges into it stand for its modules.
    state: dict[str, int] = {}

    def visit(name, trail):
        state[name] = 1
        for target in graph[name]:
            if target.startswith(name + "."):  # a package importing its own modules
                continue
            if state.get(target) == 1 and not name.startswith(target + "."):
                raise AssertionError("import cycle: " + " -> ".join(trail + [target]))
            if state.get(target) is None:
                visit(target, trail + [target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_check_sees_an_upward_import(tmp_path):
    """The walker is not vacuous: planted upward imports, eager and lazy, are found."""
    package = tmp_path / "embedsearch"
    (package / "corpus").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "corpus" / "__init__.py").write_text("from ..errors import InputError\n")
    (package / "corpus" / "readers.py").write_text(
        "from ..index import Index\n\ndef f():\n    from embedsearch.query.terms import Term\n")
    assert upward_imports(package) == ["embedsearch.corpus.readers imports embedsearch.index",
                                       "embedsearch.corpus.readers imports embedsearch.index.Index",
                                       "embedsearch.corpus.readers imports embedsearch.query.terms",
                                       "embedsearch.corpus.readers imports "
                                       "embedsearch.query.terms.Term"]
