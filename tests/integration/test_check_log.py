"""``muxscope check-log``: wezterm-gui's own trace log against muxscope's reading of the capture.

The parser is checked on lines written out by hand from WezTerm's format
strings (renderable.rs, ringlog.rs; see docs/wezterm-behaviour.md), in the
forms a user sends: the log file, a coloured copy of stderr, a Windows build's
``Instant``. The whole check runs on sessions of the emulated client, which
writes the same lines (``--wezterm-log``) next to its ground truth: the log
must say, row for row, what the client's own record says, check-log must
disagree exactly where muxscope's outcome differs from that record, and a
planted lie in the log must be reported.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from codec.schema.versions import SUPPORTED
from muxscope_emulator.scenarios import SCENARIOS
from muxscope_emulator.wezlog import PaneLog, WezLog
from proxy.report.checklog import check, compare, read_capture, render_text
from proxy.report.wezlog import Verdict, parse_wezterm_log
from tests.integration.test_truth import run_session

T = "wezterm_client::pane::renderable"
I1 = "Instant { tv_sec: 5021, tv_nsec: 104599214 }"
I2 = "Instant { tv_sec: 5021, tv_nsec: 131002117 }"
RS = "RangeSet { ranges: [10..13], needs_sort: false }"

# A session as wezterm-gui 4ff581a8 logs it: a fetch of rows 10..13, then a push that re-stamps
# row 11 for a new fetch and lets row 12 go (above physical_top), then the first reply.
LOG = f"""\
05:01:02.100  TRACE  {T} > will fetch lines {RS} for remote tab id 3 at {I1}
05:01:02.101  DEBUG  wezterm_client::client           > decoded serial 0 GetPaneRenderChangesResponse
05:01:02.102  TRACE  {T} > apply_changes_to_surface local=1 remote=3
05:01:02.102  TRACE  {T} > server says: seqno from 40 -> 41 for local_pane_id=1
05:01:02.102  TRACE  {T} > bonus line 20 seqno=41
05:01:02.102  TRACE  {T} > apply_changes_to_surface: Generate PaneOutput event for local=1
05:01:02.102  TRACE  {T} > dirty as of seq 41 -> RangeSet {{ ranges: [11..13], needs_sort: false }}
05:01:02.102  TRACE  {T} > row 11 Some(("Fetching", Some({I1}))) -> ("Fetching", Some({I2})) due to dirty and \
IN viewport
05:01:02.102  TRACE  {T} > make 12 stale bcos not fetchable
05:01:02.102  TRACE  {T} > will fetch lines RangeSet {{ ranges: [11..12], needs_sort: false }} for remote tab id \
3 at {I2}
05:01:02.110  TRACE  {T} > fetch complete for {RS} at {I1}
05:01:02.110  TRACE  {T} > row 10 fetch done -> Line seq=39 vs self.seq=41
05:01:02.110  TRACE  {T} > row 11 ("Fetching", Some({I2})) changed since fetch started at {I1}, so leave it be
05:01:02.110  TRACE  {T} > Generate PaneOutput event for local_pane_id=1
"""


def test_parser_reads_wezterms_own_lines():
    rec = parse_wezterm_log(io.StringIO(LOG))
    assert [(f.pane, f.ranges) for f in rec.fetches] == [(3, ((10, 13),)), (3, ((11, 12),))]
    first, second = rec.fetches
    assert first.applied and not second.applied
    # row 12 has no line: its entry was gone (put_line returns silently)
    assert {r: v[0] for r, v in first.rows.items()} == {10: Verdict.KEPT, 11: Verdict.LEFT}
    assert first.rows[11][2] == "Fetching"
    assert [(p.remote, p.seqno, p.bonus) for p in rec.pushes] == [(3, 41, [20])]
    assert [e.lineno for e in rec.row_events[(3, 12)]] == [9]


def test_parser_reads_coloured_stderr_and_windows_instants():
    colour = re.compile(r"^(\S+)  (TRACE|DEBUG) (\S+)")
    text = "".join(colour.sub(lambda m: f"{m[1]}  \x1b[35m{m[2]:6}\x1b[0m \x1b[1m{m[3]}\x1b[0m", line) + "\n"
                   for line in LOG.splitlines())
    text = text.replace(I1, "Instant { t: 5021.104599214s }").replace(I2, "Instant { t: 5021.131002117s }")
    rec = parse_wezterm_log(io.StringIO(text))
    assert len(rec.fetches) == 2 and rec.fetches[0].applied
    assert {r: v[0] for r, v in rec.fetches[0].rows.items()} == {10: Verdict.KEPT, 11: Verdict.LEFT}


def test_writer_pads_targets_as_ringlog_does():
    """``fetch_max`` returns the previous maximum: the first line is unpadded, later ones padded to
    the longest target logged before them."""
    out = io.StringIO()
    log = WezLog(out, clock_ns=lambda: 7_000_000_123, wall=lambda: "05:01:02.100")
    log.trace("resync due to TabResized(TabResized { tab_id: 0 })", "wezterm_client::client")
    PaneLog(log, 1, 3).will_fetch([(10, 13)], token=99)
    log.trace("resync due to TabResized(TabResized { tab_id: 0 })", "wezterm_client::client")
    lines = out.getvalue().splitlines()
    assert lines[0] == ("05:01:02.100  TRACE  wezterm_client::client > "
                        "resync due to TabResized(TabResized { tab_id: 0 })")
    assert lines[1] == (f"05:01:02.100  TRACE  {T} > will fetch lines RangeSet {{ ranges: [10..13], needs_sort: "
                        "false } for remote tab id 3 at Instant { tv_sec: 7, tv_nsec: 123 }")
    assert lines[2].startswith("05:01:02.100  TRACE  wezterm_client::client           > ")


def _truth_as_attribution(truth: dict, conn: int) -> SimpleNamespace:
    rows = [(conn, s, p, r, o, c) for s, p, r, o, c in truth["rows_detail"]]
    raced = {(conn, s, r) for s, _, r in truth.get("raced_detail", ())}
    return SimpleNamespace(row_log=rows, crossed_log=set(), raced_log=raced)


STREAMING = ["--panes", "2", "--output-rate", "30"]


@pytest.mark.parametrize("scenario,policy,server", [
    *((name, "wezterm", []) for name in SCENARIOS),
    ("resize-drag", "coalesce", []), ("resize-drag", "wezterm", STREAMING),
])
def test_check_log_agrees_row_by_row(scenario, policy, server):
    """Every scenario, a coalescing client, and two tabs streaming output (pushes keep coming)."""
    d = Path(tempfile.mkdtemp(prefix=f"muxscope-checklog-{scenario}-", dir="/tmp"))
    log_path = d / "wezterm.log"
    truth, _, _ = run_session(scenario, policy, d, extra=["--wezterm-log", str(log_path)],
                              server_extra=[*_server_scenario(scenario), *server])
    try:
        _check_session(truth, log_path, d / "c.muxcap", "coalesce" if policy == "coalesce" else "wezterm")
    except AssertionError:
        print(f"log, capture and truth kept in {d}")
        raise
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("version", SUPPORTED)
def test_every_codec_version_users_run(version):
    """Server and client speaking each codec version muxscope knows (42, the 43 nightlies, 44, 45):
    a session runs through the proxy and the log agrees with the capture row by row."""
    d = Path(tempfile.mkdtemp(prefix=f"muxscope-checklog-v{version}-", dir="/tmp"))
    log_path = d / "wezterm.log"
    v = ["--codec-version", str(version)]
    truth, _, report = run_session("resize-drag", "wezterm", d, extra=["--wezterm-log", str(log_path), *v],
                                   server_extra=v)
    assert report.get("settled") and not report.get("errors"), report.get("errors")
    _check_session(truth, log_path, d / "c.muxcap", "wezterm")
    shutil.rmtree(d, ignore_errors=True)


def _server_scenario(scenario: str) -> list[str]:
    """``--scenario NAME`` for the emulated server too, once it lays out content per scenario."""
    import argparse

    from muxscope_emulator import server_cli

    parser = server_cli.register(argparse.ArgumentParser().add_subparsers())
    return ["--scenario", scenario] if "--scenario" in parser._option_string_actions else []


def _check_session(truth: dict, log_path: Path, capture: Path, model: str) -> None:
    log = parse_wezterm_log(log_path.read_text().splitlines())
    requests, attribution = read_capture(str(capture), model)
    conns = {c for c, *_ in requests.requests}
    assert len(conns) == 1 and len(log.fetches) == len(requests.requests) > 0
    # the log says row for row what the client's own record says
    own = compare(log, requests, _truth_as_attribution(truth, conns.pop()))
    assert own.rows_compared == len(truth["rows_detail"]) and not own.disagreements, own.disagreements[:3]
    assert own.aligned == len(log.fetches) and own.only_in_log == own.only_in_capture == 0
    # check-log disagrees exactly where muxscope's outcome differs from the record (a crossing it
    # could not see; tests/integration/test_truth.py bounds those)
    res = check(log_path.read_text().splitlines(), str(capture), model)
    kept = {(s, p, r): o != "superseded" for s, p, r, o, _ in truth["rows_detail"]}
    wrong = {(s, p, r) for _, s, p, r, o, _ in attribution.row_log if (o != "superseded") != kept[(s, p, r)]}
    # a row the client counts raced (superseded) and muxscope kept: a push it read after writing the
    # request, which the proxy relayed first (a crossing; test_truth bounds them); the log says what
    # the GUI did with it, so check-log may agree with muxscope there
    crossed_raced = {tuple(x) for x in truth.get("raced_detail", ())} & wrong
    assert {(d.serial, d.pane, d.row) for d in res.disagreements} - crossed_raced == wrong - crossed_raced
    print(next(ln for ln in render_text(res, "log", "capture").splitlines() if ln.startswith("rows compared")))
    assert res.agreeing >= res.rows_compared - len(wrong)


def test_planted_disagreements_are_reported():
    d = Path(tempfile.mkdtemp(prefix="muxscope-checklog-plant-", dir="/tmp"))
    log_path = d / "wezterm.log"
    run_session("resize-drag", "wezterm", d, extra=["--wezterm-log", str(log_path)])
    capture = d / "c.muxcap"
    lines = log_path.read_text().splitlines(keepends=True)
    clean = check(lines, str(capture))
    assert clean.rows_compared > 50
    # a kept row the log now says was left alone, and one whose "fetch done" line is gone, each on a
    # row muxscope judged kept (a raced row, superseded to muxscope, agrees whether the log says kept
    # or left: README "Raced rows"), found by planting on the last rows fetched until one shows
    done = [i for i, ln in enumerate(lines) if " fetch done -> Line " in ln]
    assert len(done) >= 2
    known = {(x.row, x.wezterm) for x in clean.disagreements}

    def plant(i: int, edit: str) -> tuple[list[str], set[tuple[int, str]]]:
        out = list(lines)
        row = re.search(r"row (\d+) fetch done", out[i])[1]
        if edit == "left":
            out[i] = out[i].split(" > ")[0] + (f' > row {row} ("Stale", None) changed since fetch '
                                               f"started at {_instant_of_fetch(out, i)}, so leave it be\n")
        else:
            del out[i]
        return out, {(x.row, x.wezterm) for x in check(out, str(capture)).disagreements} - known

    left = next(i for i in reversed(done[-12:]) if plant(i, "left")[1])
    gone = next(i for i in reversed(done[-24:]) if i != left and plant(i, "gone")[1])
    first = re.search(r"row (\d+) fetch done", lines[left])
    deleted = re.search(r"row (\d+) fetch done", lines[gone])
    instant = _instant_of_fetch(lines, left)
    lines[left] = lines[left].split(" > ")[0] + (f' > row {first[1]} ("Stale", None) changed since fetch '
                                                 f"started at {instant}, so leave it be\n")
    del lines[gone]
    planted = d / "planted.log"
    planted.write_text("".join(lines))
    res = check(lines, str(capture))
    new = {(x.row, x.wezterm) for x in res.disagreements} - {(x.row, x.wezterm) for x in clean.disagreements}
    assert new == {(int(first[1]), "left (Stale)"), (int(deleted[1]), "gone")}, res.disagreements
    cli = subprocess.run([sys.executable, "-m", "proxy.cli", "check-log", str(planted), str(capture)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 1, cli.stderr
    assert f"row {first[1]}: wezterm-gui dropped it (left (Stale))" in cli.stdout
    assert "changed since fetch started" in cli.stdout  # the log line is shown as context
    shutil.rmtree(d, ignore_errors=True)


def _instant_of_fetch(lines: list[str], i: int) -> str:
    """The Instant of the ``fetch complete`` line above line ``i``."""
    for ln in reversed(lines[:i]):
        if "fetch complete for" in ln:
            return ln.rstrip("\n").rsplit(" at ", 1)[1]
    raise AssertionError("no fetch complete line")


def test_cli_explains_a_log_without_traces(tmp_path):
    log = tmp_path / "wezterm.log"
    log.write_text("05:01:02.100  INFO   wezterm_gui > hello\n")
    cli = subprocess.run([sys.executable, "-m", "proxy.cli", "check-log", str(log), str(tmp_path / "none.muxcap")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 2
    assert "WEZTERM_LOG=wezterm_client=trace" in cli.stderr and "Traceback" not in cli.stderr


def test_the_docs_commands_parse():
    """docs/wezterm-config.md's check-log walk-through: every muxscope command line is one the CLI takes."""
    import shlex

    from proxy.cli.main import build_parser

    doc = (Path(__file__).resolve().parents[2] / "docs" / "wezterm-config.md").read_text()
    section = doc[doc.index("(`muxscope check-log`)"):]
    cmds = [shlex.split(line.strip()) for block in re.findall(r"```shell\n(.*?)```", section, flags=re.S)
            for line in block.splitlines() if line.strip().startswith("muxscope ")]
    assert {argv[1] for argv in cmds} >= {"proxy", "check-log"}
    for argv in cmds:
        if ">" in argv:  # a redirection
            argv = argv[: argv.index(">")]
        build_parser().parse_args(argv[1:])


def _shift(line: str, seconds: float) -> str:
    """A log line with its time of day moved by ``seconds`` (wrapping at midnight)."""
    m = re.match(r"^(\d\d):(\d\d):(\d\d)\.(\d{3})", line)
    if m is None:
        return line
    ms = (int(m[1]) * 3600_000 + int(m[2]) * 60_000 + int(m[3]) * 1000 + int(m[4]) + round(seconds * 1000)) % 86_400_000
    ts = f"{ms // 3600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
    return ts + line[m.end():]


def test_alignment_uses_the_clocks(tmp_path):
    """A log in another time zone aligns all the same; fetches logged before the capture began (here: an
    earlier stretch of log in which every reply was dropped) pair with nothing instead of taking the
    capture's first requests."""
    log_path = tmp_path / "wezterm.log"
    run_session("resize-drag", "wezterm", tmp_path, extra=["--wezterm-log", str(log_path)])
    capture = str(tmp_path / "c.muxcap")
    lines = log_path.read_text().splitlines(keepends=True)
    base = check(lines, capture)
    assert base.aligned == base.log_fetches > 10 and base.only_in_capture == 0
    zone = check([_shift(ln, 5.5 * 3600) for ln in lines], capture)
    assert abs(zone.clock_offset_s - 5.5 * 3600) < 0.1
    assert (zone.aligned, zone.rows_compared, len(zone.disagreements)) == (
        base.aligned, base.rows_compared, len(base.disagreements))
    done = re.compile(r"> row (\d+) fetch done -> Line .*$")
    earlier = [done.sub(r'> row \1 ("Stale", None) changed since fetch started at Instant { tv_sec: 1, tv_nsec: 0 }, '
                        "so leave it be", _shift(ln, -60)) for ln in lines[: len(lines) // 2]]
    both = check(earlier + lines, capture)
    assert both.only_in_log == len(parse_wezterm_log(earlier).fetches) > 0 and both.aligned == base.aligned
    assert len(both.disagreements) == len(base.disagreements)
    blind = check(earlier + lines, capture, window_s=1e6)  # order alone: the earlier stretch takes the requests
    assert len(blind.disagreements) > len(base.disagreements)


def test_a_push_applied_after_a_reply_it_preceded_is_named():
    """wezterm-gui may apply a reply before a push it read first (two queue turns against one): the
    log then shows the push's lines after the reply's, while the wire, which muxscope follows, has
    the push first. check-log says so next to the disagreement."""
    reordered = LOG.replace(
        f"05:01:02.110  TRACE  {T} > row 11 (\"Fetching\", Some({I2})) changed since fetch started at {I1}, "
        "so leave it be\n",
        f"05:01:02.110  TRACE  {T} > row 11 fetch done -> Line seq=39 vs self.seq=40\n")
    push_block = reordered[reordered.index("05:01:02.102"):reordered.index("05:01:02.110")]
    reordered = reordered.replace(push_block, "") + push_block  # the push applied after the reply
    log = parse_wezterm_log(io.StringIO(reordered))
    assert log.fetches[0].rows[11][0] is Verdict.KEPT
    from proxy.report.checklog import _Requests

    req = _Requests()
    req.requests = [(1, 5, 3, ((10, 13),)), (1, 6, 3, ((11, 12),))]
    req.reply_rows = {(1, 5): [10, 11, 12]}
    req.t_reply = {(1, 5): 2_000}
    req.t_push = {(1, 3, 41): 1_000}  # on the wire the push came first
    mine = SimpleNamespace(row_log=[(1, 5, 3, 10, "new", "first_view"), (1, 5, 3, 11, "superseded", "first_view"),
                                    (1, 5, 3, 12, "superseded", "first_view")], crossed_log=set())
    res = compare(log, req, mine)
    assert [(d.row, d.wezterm, d.muxscope) for d in res.disagreements] == [(11, "kept", "superseded")]
    assert res.disagreements[0].reason.startswith("reordered: the push with seqno 41")
    assert "reordered" in render_text(res, "log", "capture")


def test_writer_gives_only_fetching_states_an_instant():
    out = io.StringIO()
    log = WezLog(out, clock_ns=lambda: 1_500_000_000, wall=lambda: "05:01:02.100")
    pane = PaneLog(log, 0, 0)
    pane.dirty_row(7, ("Stale", 41), "LineAndFetching", 42)
    assert out.getvalue().rstrip().endswith(
        '> row 7 Some(("Stale", None)) -> ("LineAndFetching", Some(Instant { tv_sec: 1, tv_nsec: 500000000 })) '
        "due to dirty and IN viewport")
