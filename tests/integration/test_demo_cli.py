"""``muxscope demo`` as a newcomer meets it: options checked first, numbers that agree, files that start fresh."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.components import REPO


def demo(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy.cli", "demo", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


@pytest.mark.parametrize(("args", "message"), [
    (["--policy", "bogus"], "muxscope demo: --policy 'bogus': expected one of wezterm, selective, coalesce"),
    (["--rtt", "fast"], "muxscope demo: "),
    (["--panes", "0"], "muxscope demo: --panes must be at least 1"),
    (["--metrics", "nohost"], "muxscope demo: "),
])
def test_bad_options_stop_the_demo_before_it_starts(tmp_path: Path, args: list[str], message: str) -> None:
    res = demo(*args, "--out", str(tmp_path / "d"), timeout=30)
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(message) and "usage:" not in res.stderr
    assert not (tmp_path / "d").exists()  # nothing was made


def test_out_needs_its_parent(tmp_path: Path) -> None:
    res = demo("--out", str(tmp_path / "missing" / "d"), timeout=30)
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert "does not exist; create it first" in line


def test_each_run_starts_fresh_files_and_its_numbers_agree(tmp_path: Path) -> None:
    out = tmp_path / "d"
    for _ in range(2):
        res = demo("--resizes", "6", "--drag-seconds", "0.3", "--rows", "20", "--cols", "70", "--out", str(out),
                   "--metrics", "127.0.0.1:0")
        assert res.returncode == 0, res.stderr[-2000:]
    # the log, like the capture and the truth file, holds the last run only
    events = [json.loads(line) for line in (out / "muxscope.log").read_text().splitlines()]
    assert sum(e["event"] == "connection_opened" for e in events) == 1
    assert (out / "muxscope.log").stat().st_mode & 0o777 == 0o600
    banner = res.stderr.strip().splitlines()[0]
    assert "a drag through 6 window sizes" in banner
    text = res.stdout
    flat = re.sub(r"\s+", " ", text)  # prose lines are wrapped
    sent = int(re.search(r"(\d+) Resize PDUs sent \(6 for the drag", flat).group(1))
    table = text[text.index("Resize bursts"):text.index("Panes")]
    seen = sum(int(row.split()[1]) for row in table.splitlines()[3:] if row.strip()[:1].isdigit())
    assert sent == seen, text
    line = re.search(r"rows fetched: redundant (\d+), superseded (\d+) \(discarded on arrival\), changed (\d+), "
                     r"new (\d+)", flat)
    fetched = int(re.search(r"recorded: (\d+) rows fetched", flat).group(1))
    assert line and sum(map(int, line.groups())) == fetched
    assert "discarded: " not in text
    assert re.search(r"^metrics: http://127\.0\.0\.1:\d+/metrics was served during the run only; add --keep-running",
                     text, re.M)
    for start in ("model:", "The emulated client itself"):  # prose paragraphs are wrapped
        # at a line's start: the crossing line ("... client model: wezterm") also holds "model:"
        paragraph = text[text.index("\n" + start) + 1:].split("\n\n")[0]
        assert all(len(ln) <= 100 for ln in paragraph.splitlines()), paragraph
