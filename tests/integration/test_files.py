"""Output files and start-up errors: one rule for every command, one line and a non-zero exit for every problem.

The rules are :mod:`proxy.files`': missing parent directories are refused, never created;
an existing file is never truncated or chmod-ed (a capture refuses it without --force, and
--force replaces only a regular file, by rename); what muxscope creates is 0600; every
problem is found before any work starts.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.capture.format import open_capture
from proxy.capture.writer import CaptureConsumer
from proxy.files import OutputError
from tests.components import REPO, clean_env

SAMPLE = REPO / "captures" / "typing.muxcap"


def muxscope(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=clean_env(**env), stdin=subprocess.DEVNULL)


def one_line(res: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The command failed with ``status`` and said why in exactly one line, without a traceback."""
    assert res.returncode == status, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def proxy_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["proxy", "--listen", f"unix:{tmp_path / 'p.sock'}", "--upstream", f"unix:{tmp_path / 'm.sock'}", *extra]


@contextlib.contextmanager
def port_in_use() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


# -- captures -------------------------------------------------------------------------------------


def test_capture_refuses_an_existing_file_and_leaves_it_alone(tmp_path: Path) -> None:
    old = tmp_path / "old.muxcap"
    old.write_bytes(b"someone's data")
    old.chmod(0o644)
    line = one_line(muxscope(*proxy_args(tmp_path, "--capture", str(old))))
    assert line.startswith(f"muxscope proxy: --capture {old}: the file exists") and "--force" in line
    assert old.read_bytes() == b"someone's data" and stat.S_IMODE(old.stat().st_mode) == 0o644
    assert not (tmp_path / "p.sock").exists()


def test_force_replaces_a_regular_file_by_rename_never_truncating_it(tmp_path: Path) -> None:
    old = tmp_path / "c.muxcap"
    old.write_bytes(b"someone's data")
    old.chmod(0o644)
    os.link(old, tmp_path / "other-name")
    writer = CaptureConsumer(str(old), force=True)
    writer.open()
    writer.close()
    assert (tmp_path / "other-name").read_bytes() == b"someone's data"  # the old inode: untouched
    assert stat.S_IMODE((tmp_path / "other-name").stat().st_mode) == 0o644
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert open_capture(str(old)).header["format"] == "muxcap"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_force_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    line = one_line(muxscope(*proxy_args(tmp_path, "--capture", str(fifo), "--force")))
    assert "not a regular file" in line
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    with pytest.raises(OutputError, match="not a regular file"):
        CaptureConsumer("/dev/null", force=True).open()


def test_rotation_refuses_to_write_over_earlier_rotated_files(tmp_path: Path) -> None:
    (tmp_path / "c.muxcap.1").write_bytes(b"an earlier run")
    line = one_line(muxscope(*proxy_args(tmp_path, "--capture", str(tmp_path / "c.muxcap"),
                                          "--capture-max-bytes", "100000")))
    assert "rotation would write over c.muxcap.1" in line
    assert (tmp_path / "c.muxcap.1").read_bytes() == b"an earlier run" and not (tmp_path / "c.muxcap").exists()


@pytest.mark.parametrize("rotate", [[], ["--capture-max-seconds", "60"]])
def test_capture_in_a_missing_directory_stops_the_start(tmp_path: Path, rotate: list[str]) -> None:
    line = one_line(muxscope(*proxy_args(tmp_path, "--capture", str(tmp_path / "nope" / "c.muxcap"), *rotate)))
    assert line == (f"muxscope proxy: --capture {tmp_path / 'nope' / 'c.muxcap'}: the directory {tmp_path / 'nope'} "
                    "does not exist; create it first (muxscope does not create missing directories)")


# -- logs ---------------------------------------------------------------------------------------------


def test_a_new_log_is_private_and_an_existing_one_is_appended_to_untouched(tmp_path: Path) -> None:
    log = tmp_path / "replay.log"
    assert muxscope("replay", str(SAMPLE), "--log-file", str(log)).returncode == 0
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    first = log.read_text()
    assert "replay_done" in first
    log.chmod(0o640)
    assert muxscope("replay", str(SAMPLE), "--log-file", str(log)).returncode == 0
    assert stat.S_IMODE(log.stat().st_mode) == 0o640
    second = log.read_text()
    assert second.startswith(first) and second.count("replay_done") == 2


@pytest.mark.parametrize("command", ["proxy", "replay"])
def test_a_log_that_cannot_be_opened_stops_the_start(tmp_path: Path, command: str) -> None:
    log = tmp_path / "nope" / "x.log"
    args = proxy_args(tmp_path) if command == "proxy" else ["replay", str(SAMPLE)]
    line = one_line(muxscope(*args, "--log-file", str(log)))
    assert line.startswith(f"muxscope {command}: --log-file {log}: the directory") and "does not exist" in line
    assert not (tmp_path / "p.sock").exists()


# -- the other outputs: one rule for missing directories -------------------------------------------------------


def test_report_html_refuses_a_missing_directory_before_analysing(tmp_path: Path) -> None:
    out = tmp_path / "nope" / "r.html"
    line = one_line(muxscope("report", str(SAMPLE), "--html", str(out), "--no-progress"))
    assert f"--html {out}: the directory {out.parent} does not exist" in line


def test_report_html_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "r.html"  # a path through a regular file: ENOTDIR even for root
    line = one_line(muxscope("report", str(SAMPLE), "--html", str(out), "--no-progress"))
    assert "is not a directory" in line


def test_scrub_out_follows_the_capture_rules(tmp_path: Path) -> None:
    line = one_line(muxscope("capture", "scrub", str(SAMPLE), str(tmp_path / "nope" / "s.muxcap")))
    assert "does not exist; create it first" in line
    out = tmp_path / "s.muxcap"
    out.write_bytes(b"keep")
    assert "the file exists" in one_line(muxscope("capture", "scrub", str(SAMPLE), str(out)))
    assert out.read_bytes() == b"keep"
    res = muxscope("capture", "scrub", str(SAMPLE), str(out), "--force")
    assert res.returncode == 0, res.stderr
    assert open_capture(str(out)).header["scrubbed"] is True and stat.S_IMODE(out.stat().st_mode) == 0o600


# -- listeners already in use -------------------------------------------------------------------------------------


def test_ports_in_use_are_one_line_each(tmp_path: Path) -> None:
    with port_in_use() as port:
        for args, option in (
            (["replay", str(SAMPLE), "--metrics", f"127.0.0.1:{port}"], "--metrics"),
            (["replay", str(SAMPLE), "--serve", f"tcp:127.0.0.1:{port}"], "--serve"),
            (["emulate", "server", "--listen", f"tcp:127.0.0.1:{port}"], "--listen"),
            (proxy_args(tmp_path, "--metrics", f"127.0.0.1:{port}"), "--metrics"),
        ):
            line = one_line(muxscope(*args))
            assert f"{option} " in line and f":{port}: cannot listen: " in line, line
            assert "pick another port" in line, line



def test_export_pcapng_follows_the_rules(tmp_path: Path) -> None:
    line = one_line(muxscope("export", str(SAMPLE), "--pcapng", str(tmp_path / "nope" / "t.pcapng")))
    assert "does not exist; create it first" in line
    out = tmp_path / "t.pcapng"
    res = muxscope("export", str(SAMPLE), "--pcapng", str(out))
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the capture's terminal traffic
