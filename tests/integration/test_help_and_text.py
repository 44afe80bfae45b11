"""What a newcomer reads: --help that teaches in prose, tables with units, wrapped prose, colour only when wanted."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

from proxy.capture.replay_drive import DriveReport, PduComparison
from tests.components import REPO

SAMPLE = REPO / "captures" / "resize-drag-40ms.muxcap"


def muxscope(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env={**os.environ, **env})


def _help(*args: str) -> str:
    return re.sub(r"\s+", " ", muxscope(*args, "--help").stdout)  # argparse wraps the prose


def test_emulate_server_help_is_prose_for_users() -> None:
    out = _help("emulate", "server")
    assert "``" not in out and ":class:" not in out and "tests" not in out.lower()
    assert "--listen stdio serves one client" in out and "example:" in out


def test_report_help_names_only_options_that_exist() -> None:
    out = _help("report")
    defined = set(re.findall(r"\[(--[a-z-]+)", out))  # the usage line
    prose = out.replace("`muxscope emulate client --truth-file`", "")
    mentioned = set(re.findall(r"(?<![\w`-])(--[a-z][a-z-]+)", prose))
    assert "--truth-file" not in mentioned
    assert mentioned - defined <= {"--policy", "--help"}, mentioned - defined  # --policy: the emulator's, named so
    assert "`muxscope emulate client --truth-file`" in out


def test_report_model_line_is_wrapped() -> None:
    out = muxscope("report", str(SAMPLE), "--no-progress").stdout
    model = out[out.index("\nmodel: ") + 1:].split("\n\n")[0]
    assert len(model.splitlines()) > 3 and all(len(ln) <= 100 for ln in model.splitlines())


def test_drive_table_says_its_units() -> None:
    report = DriveReport(recorded_conn=1, speed=1.0, sent=2, duration_s=1.5)
    report.pdus["GetLines"] = PduComparison("GetLines", count=2, answered=2, latency_recorded_ms=[40.0, 42.0],
                                            latency_now_ms=[1.0, 2.0], bytes_recorded=300, bytes_now=300)
    table = report.table()
    head = next(ln for ln in table.splitlines() if ln.startswith("request"))
    assert "p50 rec ms" in head and "p95 now ms" in head and "answer B rec" in head
    assert "in milliseconds" in table and "took 1.50 s" in table


def _stderr_on_a_terminal(*args: str, **env: str) -> str:
    """Run with stderr on a pseudo-terminal, where the console log would colour its output."""
    leader, follower = pty.openpty()
    base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.Popen([sys.executable, "-m", "proxy.cli", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=follower, env={**base, **env})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_no_color_turns_the_console_log_plain() -> None:
    coloured = _stderr_on_a_terminal("replay", str(SAMPLE))
    plain = _stderr_on_a_terminal("replay", str(SAMPLE), NO_COLOR="1")
    assert "replay_done" in coloured and "replay_done" in plain
    assert "\x1b[" in coloured and "\x1b[" not in plain


def test_readme_sample_verdict_adds_up_and_says_how_much_runs_vary() -> None:
    readme = (REPO / "README.md").read_text()
    sample = readme[readme.index("## What the demo prints"):]
    flat = re.sub(r"\s+", " ", sample)  # the README wraps the verdict
    m = re.search(r"Over-fetching: (\d+)% of rows fetched after resizes were already on the client \((\d+) redundant "
                  r"\+ (\d+) superseded of (\d+) rows returned in \d+ resize bursts?\); the client waited "
                  r"([\d.]+) s on them of the ([\d.]+) s it had GetLines outstanding, in ([\d.]+) s of settling", flat)
    assert m, "the sample verdict is not in the shape the demo prints"
    pct, redundant, superseded, rows = (int(x) for x in m.groups()[:4])
    assert round(100 * (redundant + superseded) / rows) == pct
    spread = re.search(r"gave (\d+)% to (\d+)% over-fetched rows, (\d+) to (\d+) rows returned after resizes, "
                       r"([\d.]+) to ([\d.]+) s waited on them of ([\d.]+) to ([\d.]+) s with GetLines outstanding, "
                       r"and ([\d.]+) to ([\d.]+) s of settling", flat)
    assert spread, "the README does not say how much the numbers vary"
    lo_pct, hi_pct, lo_rows, hi_rows = (int(x) for x in spread.groups()[:4])
    assert lo_pct <= pct <= hi_pct and lo_rows <= rows <= hi_rows
    assert float(spread.group(5)) <= float(m.group(5)) <= float(spread.group(6))
    assert float(spread.group(9)) <= float(m.group(7)) <= float(spread.group(10))
