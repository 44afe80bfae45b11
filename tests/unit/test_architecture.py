"""The shape the code promises newcomers (issue #12), checked so it stays that way.

* no import circles between muxscope's modules (a function-level import counts: it is how a
  circle hides);
* no module over 500 lines, except the declarative schemas (codec/schema/);
* no function over 60 lines;
* the sans-I/O codec imports nothing from the proxy, the emulator or any I/O library, and the
  analysis imports nothing that does I/O;
* no path of one developer's machine in the repository.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("codec", "proxy", "muxscope_emulator")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _compiled(module: str) -> bool:
    path = REPO / module.replace(".", "/")
    return path.with_suffix(".c").exists() or any(path.parent.glob(path.name + ".*.so"))


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Modules of ours that ``module`` imports at run time (anywhere but under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names = [f"{base}.{a.name}" for a in node.names]
            # ``from pkg import name``: the package itself is imported too, unless every name is
            # a submodule (a compiled one, like codec._fastscan, has no .py file to know it by)
            if not all(n in known or _compiled(n) for n in names):
                names.append(base)
        else:
            continue
        for name in names:
            if _compiled(name):
                continue
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(p, m, known) for m, p in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            # importing a package runs its __init__, not its submodules: a submodule importing
            # its own package's __init__ is not a circle unless __init__ imports it back
            if state.get(n) == 1:
                return [*stack[stack.index(n):], n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_circles():
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_the_codec_is_sans_io():
    forbidden = ("proxy", "muxscope_emulator", "asyncio", "socket", "structlog", "prometheus_client", "asyncssh")
    for path in (REPO / "codec").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                bad = [n for n in names if n.split(".")[0] in forbidden]
                assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_the_analysis_does_no_io():
    forbidden = ("proxy.observe", "proxy.cli", "proxy.capture", "structlog", "prometheus_client", "asyncio",
                 "socket", "time", "logging")
    for path in (REPO / "proxy" / "analysis").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                bad = [n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden)]
                assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def _tracked_python() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=False).stdout
    files = [REPO / f for f in out.split()] if out else list(REPO.rglob("*.py"))
    return [f for f in files if f.exists()]


def test_no_module_over_500_lines_except_the_schemas():
    big = {}
    for m, path in _modules().items():
        if m.startswith("codec.schema"):
            continue
        n = len(path.read_text().splitlines())
        if n > MAX_MODULE_LINES:
            big[m] = n
    assert not big, big


@pytest.mark.parametrize("root", ["codec", "proxy", "muxscope_emulator", "tests", "bench", "captures", "scripts"])
def test_no_function_over_60_lines(root):
    long = {}
    for path in _tracked_python():
        if not path.is_relative_to(REPO / root):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(REPO)}:{node.lineno} {node.name}"] = n
    assert not long, long


def test_no_paths_of_one_machine():
    out = subprocess.run(["git", "grep", "-n", "-I", "-E", r"(/work|/root)/"],
                         cwd=REPO, capture_output=True, text=True, check=False).stdout
    hits = [line for line in out.splitlines() if not line.startswith("tests/unit/test_architecture.py")]
    assert not hits, hits[:10]
