"""What-if estimates against the emulated client running each policy (``python -m bench.bench_whatif``).

The report estimates, from a run of WezTerm's own fetch logic, the rows a
policy would have saved. Here the same scenario is run N times under each
policy (server, proxy and client as processes, as in tests/test_truth.py), and
the medians are printed side by side: the estimate from the wezterm runs, and
the rows the client actually fetched under the policy. Run-to-run spread is
printed too, since it bounds how closely any estimate can agree.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_truth import run_session


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="sessions per scenario and policy (default 5)")
    p.add_argument("--scenarios", default="resize-drag,typing,scroll")
    args = p.parse_args()
    for scenario in args.scenarios.split(","):
        rows: dict[str, list[int]] = {}
        estimates: dict[str, list[int]] = {"selective": [], "coalesce": []}
        for policy in ("wezterm", "selective", "coalesce"):
            for i in range(args.runs):
                with tempfile.TemporaryDirectory(dir="/tmp") as d:
                    truth, attribution, _ = run_session(scenario, policy, Path(d))
                rows.setdefault(policy, []).append(sum(truth["rows"].values()))
                if policy == "wezterm":
                    what_if = attribution.report()["what_if"]
                    for name in estimates:
                        estimates[name].append(what_if[name]["rows_saved"])
                print(f"  {scenario} {policy} run {i + 1}/{args.runs}: {rows[policy][-1]} rows", file=sys.stderr)
        med = {k: statistics.median(v) for k, v in rows.items()}
        print(f"{scenario}: rows fetched, median (min-max) of {args.runs}: "
              + ", ".join(f"{k} {med[k]:g} ({min(rows[k])}-{max(rows[k])})" for k in rows))
        for name in estimates:
            actual = med["wezterm"] - med[name]
            est = statistics.median(estimates[name])
            print(f"  {name}: estimated saving {est:g} rows, measured {actual:g} "
                  f"(wezterm median minus {name} median)")


if __name__ == "__main__":
    main()
