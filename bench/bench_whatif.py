"""What-if estimates against the emulated client running each policy (``python -m bench.bench_whatif``).

The report estimates, from a run of WezTerm's own fetch logic, the rows a policy would have saved.
Two comparisons, for each scenario:

* across runs: the same seeded scenario is run N times under each policy (server, proxy and client
  as processes, as in tests/integration/test_truth.py). The estimate of the rows the policy would have fetched
  (a wezterm run's rows minus the rows the what-if says it saves) is set against the rows the client
  fetched when it ran that policy, as medians. Timing differs between runs (how many paints fall
  between resizes), so the run-to-run spread, printed too, bounds how closely they can agree.
* in the same run: the wezterm client also counts, from its own cache, the rows each policy would
  have saved (``selective_saved_rows``, ``refetched_in_flight``); the estimate should equal them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_truth import run_session

POLICIES = ("selective", "coalesce")
#: the client's own count, in a wezterm run, of what each policy would save
CLIENT_COUNTS = {"selective": "selective_saved_rows", "coalesce": "refetched_in_flight"}


def _spread(values: list[float]) -> str:
    med = statistics.median(values)
    return f"{med:g} ({min(values):g}-{max(values):g})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="sessions per scenario and policy (default 5)")
    p.add_argument("--scenarios", default="resize-drag,typing,scroll")
    p.add_argument("--server-args", default="",
                   help="extra emulated-server arguments, e.g. '--panes 2 --output-rate 30'")
    p.add_argument("--client-args", default="",
                   help="extra emulated-client arguments, e.g. '--drag-seconds 4' (a slower drag: each resize's "
                        "fetches end before the next, so runs repeat closely)")
    args = p.parse_args()
    server_extra, client_extra = args.server_args.split(), args.client_args.split()
    for scenario in args.scenarios.split(","):
        rows: dict[str, list[int]] = {}
        estimated: dict[str, list[int]] = {name: [] for name in POLICIES}
        same_run = dict.fromkeys(POLICIES, 0)
        for i in range(args.runs):  # policies interleaved: a drift in the machine's load hits them alike
            for policy in ("wezterm", *POLICIES):
                with tempfile.TemporaryDirectory(dir="/tmp") as d:
                    truth, attribution, client = run_session(scenario, policy, Path(d), client_extra, server_extra)
                fetched = sum(truth["rows"].values())
                rows.setdefault(policy, []).append(fetched)
                if policy == "wezterm":
                    what_if = attribution.report().what_if
                    savings = {"selective": what_if.selective, "coalesce": what_if.coalesce}
                    for name in POLICIES:
                        saved = savings[name].rows_saved
                        estimated[name].append(fetched - saved)
                        counted = client.get(CLIENT_COUNTS[name])
                        same_run[name] += saved == counted
                        if saved != counted:
                            print(f"  {scenario} run {i + 1}: {name} estimate {saved}, the client counted {counted}"
                                  + ("" if client else " (the client printed no report)"), file=sys.stderr)
                print(f"  {scenario} {policy} run {i + 1}/{args.runs}: {fetched} rows", file=sys.stderr)
        print(f"{scenario}: rows fetched, median (min-max) of {args.runs} runs: "
              + ", ".join(f"{k} {_spread(v)}" for k, v in rows.items()))
        for name in POLICIES:
            est, got = statistics.median(estimated[name]), statistics.median(rows[name])
            ratio = f"{est / got:.2f}" if got else "n/a"
            print(f"  {name}: estimated {_spread(estimated[name])} rows, measured {_spread(rows[name])}; "
                  f"estimate / measured {ratio}; same-run estimate equal to the client's own count in "
                  f"{same_run[name]} of {args.runs} wezterm runs")


if __name__ == "__main__":
    main()
