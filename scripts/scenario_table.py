#!/usr/bin/env python3
"""The README's table of the sessions from WezTerm's bug reports: run each through the demo, print Markdown.

For every scenario of :mod:`muxscope_emulator.reported`, ``muxscope demo --scenario NAME`` runs once with
WezTerm's own fetch policy and once with each policy the report's what-ifs estimate (selective, coalesce,
debounce=100). A row gives the over-fetch share muxscope measured (and the client's own record of it), the
raced rows (if the report counts them), the settle time, and for each what-if the rows it says the policy
would have saved, the rows the client itself counted as such in the same run, and the rows the emulated
client really fetched less when it ran that policy (another run: its timing differs).

    python3 scripts/scenario_table.py [--quick] [--scenario NAME ...] [--out DIR]

Runs one demo at a time (they time what they measure); the quick variants take a couple of minutes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from muxscope_emulator.reported import NAMES, get  # noqa: E402

#: policy the client runs -> how the report's what-if for it is read (rows saved)
POLICIES = {
    "selective": lambda w: w["selective"]["rows_saved"],
    "coalesce": lambda w: w["coalesce"]["rows_saved"],
    "debounce=100": lambda w: w["debounce"]["100ms"]["rows_saved"],
}
#: the wezterm client's own count, in the same run, of what the policy would save (none for debounce)
CLIENT_COUNTS = {"selective": "selective_saved_rows", "coalesce": "refetched_in_flight"}


def run(name: str, policy: str, quick: bool, out: Path) -> dict[str, Any]:
    """One demo run: muxscope's report and the client's own, as JSON."""
    argv = [sys.executable, "-m", "proxy.cli", "demo", "--scenario", name, "--policy", policy, "--out", str(out),
            "--metrics", "127.0.0.1:0"] + (["--quick"] if quick else [])
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} ({policy}): the demo failed:\n{done.stderr[-2000:]}")
    return {"report": json.loads((out / "report.json").read_text()),
            "client": json.loads((out / "client-report.json").read_text())}


def share(rows: dict[str, int]) -> float:
    total = sum(rows.values())
    return 100.0 * (rows["redundant"] + rows["superseded"]) / total if total else 0.0


def row(name: str, runs: dict[str, dict[str, Any]]) -> str:
    base = runs["wezterm"]
    rep, client = base["report"], base["client"]
    raced = rep.get("raced_rows")
    settle = client["settle_time_s"]
    cells = [f"[{name}]({get(name).url})",
             f"{share(rep['rows']):.0f}% of {sum(rep['rows'].values())} ({share(client['truth']['rows']):.0f}%)",
             "-" if raced is None else str(raced),
             f"{rep['settle_wall_s']:.2f} / {'-' if settle is None else f'{settle:.2f}'}"]
    for policy, estimate in POLICIES.items():
        measured = client["rows_fetched"] - runs[policy]["client"]["rows_fetched"]
        counted = f" / {client[CLIENT_COUNTS[policy]]}" if policy in CLIENT_COUNTS else ""
        cells.append(f"{estimate(rep['what_if'])}{counted} / {measured}")
    return "| " + " | ".join(cells) + " |"


HEADER = ("| scenario | over-fetch, muxscope (client) | raced rows | settle s, muxscope / client "
          "| selective: what-if / counted / measured | coalesce: what-if / counted / measured "
          "| debounce 100 ms: what-if / measured |\n|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the scenarios' short variants")
    p.add_argument("--scenario", action="append", choices=NAMES, help="only these (repeatable; default all)")
    p.add_argument("--out", default=None, help="keep each run's demo folder under this one")
    args = p.parse_args(argv)
    base = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="muxscope-scenarios-"))
    base.mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for name in args.scenario or NAMES:
        runs = {}
        for policy in ("wezterm", *POLICIES):
            runs[policy] = run(name, policy, args.quick, base / f"{name}-{policy.replace('=', '')}")
            print(f"{name} {policy}: {runs[policy]['client']['rows_fetched']} rows fetched", file=sys.stderr)
        lines.append(row(name, runs))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
