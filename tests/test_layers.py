"""The floor plan, enforced: no import cycles, no upward imports, prefect only at the edges, honest `__all__`s.

Imports are read with `ast`, including imports inside functions and under `TYPE_CHECKING`, so a cycle
cannot hide behind a function-level import.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The layer order, highest first; written once here and in ARCHITECTURE.md. A module may import from its
# own layer or any lower one, never a higher one. `tasks.<module>` at the top level are the thin tasks.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("entry points", ("flows",)),
    ("thin tasks", ("tasks.*",)),
    ("pipeline", ("tasks.pipeline",)),
    (
        "domain services",
        (
            "tasks.providers",
            "tasks.costs",
            "tasks.reports",
            "tasks.exports",
            "tasks.starter",
            "tasks.quality",
            "tasks.coordination",
        ),
    ),
    ("infrastructure", ("tasks.http", "tasks.storage", "tasks.imaging")),
    ("core", ("tasks.core",)),
]
# Side wings: the sandbox stands beside the client and shares only the imaging engine and the errors.
SIDE_WINGS: dict[str, tuple[str, ...]] = {"tasks.sandbox": ("tasks.sandbox", "tasks.imaging", "tasks.core")}
PREFECT_ALLOWED = ("flows", "tasks.*")


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("flows", "tasks"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module `name` imports, absolute (anywhere in the file: top level, functions, TYPE_CHECKING)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from package import module` imports the module, not only the package
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


def _internal(target: str) -> str | None:
    """The project module `target` names, or None for third-party code."""
    while target:
        if target in MODULES:
            return target
        target = target.rpartition(".")[0]
    return None


GRAPH = {name: {t for t in map(_internal, _imports(name, path)) if t and t != name} for name, path in MODULES.items()}


def _layer(module: str) -> int:
    """The rank of a module's layer: 0 for entry points, growing downwards."""
    for rank, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            if pattern.endswith(".*"):
                prefix = pattern[:-2]
                if module.startswith(prefix + ".") and module.count(".") == 1 and MODULES[module].name != "__init__.py":
                    return rank
            elif module == pattern or module.startswith(pattern + "."):
                return rank
    if module in ("tasks", "flows") or any(module.startswith(wing) for wing in SIDE_WINGS):
        return -1
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS in {__file__}")


def _wing(module: str) -> str | None:
    return next((wing for wing in SIDE_WINGS if module == wing or module.startswith(wing + ".")), None)


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_no_import_cycles() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_imports_point_down() -> None:
    upward = []
    for module, targets in GRAPH.items():
        wing = _wing(module)
        for target in targets:
            if target in ("tasks", "flows"):
                continue
            if wing is not None:
                if not any(target == allowed or target.startswith(allowed + ".") for allowed in SIDE_WINGS[wing]):
                    upward.append(f"{module} -> {target} (the {wing} wing may import only {SIDE_WINGS[wing]})")
            elif _wing(target) is not None:
                if _layer(module) != 0:
                    upward.append(f"{module} -> {target} (only entry points use a side wing)")
            elif _layer(target) < _layer(module):
                upward.append(f"{module} ({LAYERS[_layer(module)][0]}) -> {target} ({LAYERS[_layer(target)][0]})")
    assert not upward, "imports pointing up a layer:\n" + "\n".join(sorted(upward))


def test_prefect_only_at_the_edges() -> None:
    offenders = sorted(
        module
        for module, path in MODULES.items()
        if any(target == "prefect" or target.startswith("prefect.") for target in _imports(module, path))
        and _layer(module) not in (0, 1)
    )
    assert not offenders, f"prefect imported by the library (only flows/ and thin tasks may): {offenders}"


def _isort_style(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: SCREAMING_CASE, then CamelCase, then everything else."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


PACKAGES = sorted(
    name for name, path in MODULES.items() if path.name == "__init__.py" and "__all__" in path.read_text()
)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_all_is_sorted_and_real(package: str) -> None:
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert names == sorted(names, key=_isort_style), f"{package}.__all__ is not sorted (constants, classes, functions)"
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what does not exist: {missing}"


_OUTPUT_FOLDERS = ("images/", "results/", "costs/", "pending/", "runs/", "reports/", "lease.json")


def _string_starts(path: Path) -> Iterator[tuple[int, str]]:
    """The text each string literal (or f-string) in a module starts with, with its line; docstrings aside."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            yield node.lineno, str(node.values[0].value)


def test_output_paths_are_built_only_in_layout() -> None:
    layout = "tasks.storage.layout"
    offenders = [
        f"{module}:{line} {text[:40]!r}"
        for module, path in MODULES.items()
        if module != layout and not module.startswith("tasks.sandbox")
        for line, text in _string_starts(path)
        if text.startswith(_OUTPUT_FOLDERS)
    ]
    assert not offenders, "paths under output.uri built outside storage/layout.py:\n" + "\n".join(offenders)
