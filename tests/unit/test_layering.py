"""The tree is the architecture (docs/architecture.md): layers import only downward, and nothing cycles."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "staticsync": ROOT / "lambda_fn" / "staticsync",
    "build_tool": ROOT / "build_tool",
    "benchmarks": ROOT / "benchmarks",
}

# A module may import its own package's modules and anything of a lower rank, never its own rank's
# other packages nor a higher rank. The Lambda's foundation (errors, report, meter, config, bucket) is 0-2.
RANKS = {
    "staticsync.errors": 0,
    "staticsync.report": 0,
    "staticsync.meter": 0,
    "staticsync.config": 1,
    "staticsync.bucket": 2,
    "staticsync.model": 3,
    "staticsync.artifact": 4,
    "staticsync.live": 4,
    "staticsync.notify": 4,
    "staticsync.deploy": 5,
    "staticsync.operations": 6,
    "staticsync.sharded": 6,  # a deploy past one invocation: hand-off, plan, shards, finish
    "staticsync.dispatch": 7,
    "staticsync.check": 7,
    "build_tool.errors": 0,
    "build_tool.env": 0,
    "build_tool.build": 1,
    "build_tool.aws": 2,
    "build_tool.options": 2,  # the flags, declared once: below the commands that take them
    "build_tool.commands": 3,
    "build_tool.cli": 4,
    "build_tool.summary": 4,  # the job summary of a deploy report: beside the CLI, imported by neither
    "build_tool.__main__": 5,
}
PURE = ("staticsync.model",)
IO_LIBRARIES = ("boto3", "botocore", "s3transfer", "urllib3", "requests")


def modules() -> Iterator[tuple[str, Path]]:
    for top, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            if ".work" in path.parts:
                continue
            parts = [top, *path.relative_to(folder).with_suffix("").parts]
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


MODULES = dict(modules())


def imports(name: str, path: Path) -> set[str]:
    """Every module `name` imports, at its top or inside a function (a lazy import is still a use)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return found


GRAPH = {
    name: {m for m in imports(name, path) if m in MODULES and m != name} for name, path in MODULES.items()
}


def unit(name: str) -> str:
    """The layer a module belongs to: its subpackage, or the module itself at a package's top."""
    parts = name.split(".")
    for size in (2, 1):
        if ".".join(parts[:size]) in RANKS:
            return ".".join(parts[:size])
    return name


def test_every_product_module_has_a_layer() -> None:
    unranked = [m for m in MODULES if m.split(".")[0] != "benchmarks" and "." in m and unit(m) not in RANKS]
    assert unranked == []


@pytest.mark.parametrize("name", [m for m in MODULES if m.split(".")[0] != "benchmarks" and "." in m])
def test_a_module_imports_only_its_own_package_or_lower_layers(name: str) -> None:
    mine = unit(name)
    upward = [
        target
        for target in GRAPH[name]
        if target.split(".")[0] == name.split(".")[0]
        and "." in target
        and unit(target) != mine
        and RANKS[unit(target)] >= RANKS[mine]
    ]
    assert upward == [], f"{name} ({mine}, rank {RANKS[mine]}) imports a peer or a higher layer"


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith(PURE)])
def test_the_pure_model_imports_no_aws_library(name: str) -> None:
    assert not {m for m in imports(name, MODULES[name]) if m.split(".")[0] in IO_LIBRARIES}


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("staticsync")])
def test_the_lambda_never_imports_django_or_the_build_tool(name: str) -> None:
    tops = {m.split(".")[0] for m in imports(name, MODULES[name])}
    assert not tops & {"django", "build_tool", "static_deploy", "whitenoise"}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_anywhere() -> None:
    # A package's __init__ and its modules are one unit: importing a module runs its package first.
    graph = {n: {t for t in targets if not n.startswith(t + ".")} for n, targets in GRAPH.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_the_architecture_page_names_every_module() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    missing = [
        str(path.relative_to(ROOT))
        for name, path in MODULES.items()
        if not name.startswith("benchmarks") and path.name != "__init__.py" and path.name not in page
    ]
    assert missing == []
