"""``muxscope completion bash|zsh|fish``: each script loads in its real shell and completes what the parser has."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from codec.schema.versions import SUPPORTED
from proxy.cli.completion import nodes, walk
from proxy.cli.main import build_parser
from tests.components import REPO, require_binary


def script(shell: str, tmp_path: Path) -> Path:
    res = subprocess.run([sys.executable, "-m", "proxy.cli", "completion", shell], capture_output=True, text=True,
                         timeout=60, cwd=REPO)
    assert res.returncode == 0, res.stderr
    path = tmp_path / f"muxscope.{shell}"
    path.write_text(res.stdout)
    return path


def test_the_tree_is_the_parser() -> None:
    root = walk(build_parser())
    assert set(root.children) >= {"decode", "proxy", "demo", "emulate", "report", "replay", "capture", "completion"}
    paths = {n.path for n in nodes(root)}
    assert {"capture scrub", "emulate server", "emulate client"} <= paths
    report = root.children["report"]
    assert report.choices["--codec-version"] == [str(v) for v in SUPPORTED] and "--html" in report.valued
    assert root.children["completion"].words == ["bash", "zsh", "fish"]


BASH_CASES = [
    (["muxscope", "rep"], {"report", "replay"}),
    (["muxscope", "capture", "s"], {"scrub"}),
    (["muxscope", "capture", "scrub", "--f"], {"--force"}),
    (["muxscope", "report", "--codec-version", ""], {str(v) for v in SUPPORTED}),
    (["muxscope", "proxy", "--log-format", ""], {"console", "json"}),
    (["muxscope", "emulate", "server", "--co"], {"--codec-version", "--cols", "--content"}),
    (["muxscope", "completion", ""], {"bash", "zsh", "fish"}),
]


def test_bash_completes(tmp_path: Path) -> None:
    path = script("bash", tmp_path)
    calls = "\n".join(
        f'COMP_WORDS=({" ".join(repr(w) if w else chr(39) * 2 for w in words)}); COMP_CWORD={len(words) - 1}; '
        f'COMPREPLY=(); _muxscope; echo "${{COMPREPLY[*]}}"' for words, _ in BASH_CASES)
    res = subprocess.run(["bash", "-c", f"source {path}\n{calls}"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    got = [set(line.split()) for line in res.stdout.splitlines()]
    assert got == [want for _, want in BASH_CASES]


def test_zsh_loads_it_for_muxscope(tmp_path: Path) -> None:
    require_binary("zsh")
    path = script("zsh", tmp_path)
    res = subprocess.run(["zsh", "-c", f'autoload -U +X compinit && compinit -u -d {tmp_path}/zcd; source {path}; '
                          'echo "${_comps[muxscope]}"'], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert res.stdout.strip() == "_bash_complete -o filenames -F _muxscope"


@pytest.mark.parametrize(("line", "want"), [
    ("muxscope rep", {"report", "replay"}),
    ("muxscope capture ", {"info", "scrub"}),
    ("muxscope report --codec-version ", {str(v) for v in SUPPORTED}),
    ("muxscope capture scrub --f", {"--force"}),
    ("muxscope completion ", {"bash", "zsh", "fish"}),
])
def test_fish_completes(tmp_path: Path, line: str, want: set[str]) -> None:
    require_binary("fish")
    path = script("fish", tmp_path)
    res = subprocess.run(["fish", "--no-config", "-c", f"source {path}; complete -C '{line}'"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert {ln.split("\t")[0] for ln in res.stdout.splitlines()} == want
