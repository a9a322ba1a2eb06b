"""The import rule of DESIGN.md ("Layout", the "may import" column), checked by reading the source: every
module's imports are read with `ast` (nothing is imported, so no import side effects), then

- no import cycle between modules at import time (imports inside functions are how a cycle hides, so they
  are left out of the cycle check, but not out of the arrows);
- no arrow the "may import" column forbids, wherever the import is written;
- inside `cloud/`, no capability imports another capability's router (they talk through the database and
  small service functions; events and jobs for work that follows);
- benchmarks keep their own support and never import `tests`.
"""

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "receipts",
    "drivers",
    "pos_plugin",
    "sync",
    "agent",
    "ui",
    "cloud",
    "demo",
    "fakes",
    "benchmarks",
)
OURS = (*PACKAGES, "tests")

# Which of our packages (or modules) each package may import, from DESIGN.md's table. A prefix allows the
# module and everything under it.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "receipts": (),
    "drivers": ("receipts",),
    "pos_plugin": ("receipts",),
    "sync": ("receipts",),
    "agent": ("receipts", "drivers", "pos_plugin", "sync"),
    "ui": ("receipts", "agent.local_schemas"),
    "cloud": ("receipts", "sync.protocol"),
    "demo": (),
    "fakes": (),
    "benchmarks": ("receipts", "drivers", "pos_plugin", "sync", "agent", "ui", "cloud", "demo", "fakes"),
}


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (or the package, when a name inside it was imported)
    line: int
    at_import_time: bool  # module level (not inside a function, not under TYPE_CHECKING)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in (*PACKAGES, "tests"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:  # Alembic loads these by path, not by import
                found[module_name(path)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """`a.b.c` if it is a module of ours, else the longest prefix that is one."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, at_import_time: bool) -> None:
        for child in ast.iter_child_nodes(node):
            deferred = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            type_only = isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            nested = at_import_time and not deferred and not type_only
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child.lineno, nested)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = module.split(".") if is_package else module.split(".")[:-1]
                    parent = parent[: len(parent) - (child.level - 1)]
                    base = ".".join([*parent, base] if base else parent)
                for alias in child.names:
                    add(f"{base}.{alias.name}", child.lineno, nested, fallback=base)
            visit(child, nested)

    def add(name: str, line: int, at_import_time: bool, fallback: str = "") -> None:
        if name.split(".")[0] not in OURS:
            return
        target = _resolve(name, modules) or _resolve(fallback, modules)
        if target and target != module:
            found.append(Import(module, target, line, at_import_time))

    visit(tree, True)
    return found


def all_imports() -> list[Import]:
    modules = all_modules()
    return [imp for module, path in modules.items() for imp in imports_of(module, path, modules)]


def _allowed(source: str, target: str) -> bool:
    package = source.split(".")[0]
    if package in (target.split(".")[0], "tests"):
        return True
    return any(target == a or target.startswith(a + ".") for a in MAY_IMPORT.get(package, ()))


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    return cycles


def test_no_import_cycle() -> None:
    """Only the imports as written: a package's `__init__` importing its own submodules is no cycle until
    one of them imports the package (or a module that does) back."""
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in all_imports():
        if imp.at_import_time:
            edges[imp.source].add(imp.target)
    cycles = find_cycles(edges)
    assert cycles == [], "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


def test_every_arrow_is_allowed_by_design() -> None:
    wrong = [
        f"{i.source} imports {i.target} (line {i.line})"
        for i in all_imports()
        if not _allowed(i.source, i.target)
    ]
    assert wrong == [], "arrows DESIGN.md forbids:\n" + "\n".join(wrong)


def _routers(modules: dict[str, Path]) -> set[str]:
    """Modules of `cloud` that make a FastAPI router (`router.py`, the fleet's `web.py`, ...)."""
    found = set()
    for name, path in modules.items():
        if name.startswith("cloud.") and "APIRouter(" in path.read_text(encoding="utf-8"):
            found.add(name)
    return found


def test_cloud_capabilities_never_import_each_others_routers() -> None:
    modules = all_modules()
    routers = _routers(modules)
    capabilities = {
        m.split(".")[1]
        for m in modules
        if m.startswith("cloud.") and (ROOT / "cloud" / m.split(".")[1]).is_dir()
    }
    wrong = []
    for imp in all_imports():
        parts, target = imp.source.split("."), imp.target.split(".")
        if parts[0] != "cloud" or len(parts) < 3 or parts[1] not in capabilities:
            continue  # the frame (app factory, bootstrap, cli) wires routers in; that is its job
        if imp.target in routers and target[1] != parts[1]:
            wrong.append(f"{imp.source} imports {imp.target} (line {imp.line})")
    assert wrong == [], "capabilities importing another's router:\n" + "\n".join(wrong)


def test_benchmarks_never_import_tests() -> None:
    wrong = [
        f"{i.source} imports {i.target}"
        for i in all_imports()
        if i.source.startswith("benchmarks") and i.target.startswith("tests")
    ]
    assert wrong == [], "\n".join(wrong)


def test_the_walk_sees_a_known_arrow_and_a_known_cycle() -> None:
    """The checks above would pass on an empty graph: make sure the walk finds real edges."""
    imports = {(i.source, i.target) for i in all_imports()}
    assert ("cloud.ingest.service", "cloud.events") in imports
    assert ("cloud.app", "cloud.bootstrap") in imports
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert not _allowed("cloud.app", "agent.config")
    assert not _allowed("ui.popup", "agent.service")
    assert _allowed("ui.popup", "agent.local_schemas")
    assert not _allowed("receipts.model", "sync.protocol")
