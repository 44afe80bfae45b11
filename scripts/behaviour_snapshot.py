"""Record what muxscope prints for fixed inputs, so a refactor can prove it changed nothing.

Usage: ``python scripts/behaviour_snapshot.py OUT_DIR`` writes one file per command
(the report on every shipped capture as text, JSON and HTML; ``decode --json`` and the
tree on every golden vector and capture; ``capture info``).  Run it before and after a
change and compare the two folders with ``diff -r``.  Inputs are the shipped captures
and the golden vectors kept in ``tests/golden`` (or ``../shared/golden``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: this checkout's muxscope, whatever is installed
MUXSCOPE = [sys.executable, "-m", "proxy.cli"]


def golden_dir() -> Path:
    for candidate in (REPO / "tests" / "golden", REPO.parent / "shared" / "golden"):
        if (candidate / "v44" / "manifest.json").is_file():
            return candidate
    raise SystemExit("no golden vectors found (tests/golden or ../shared/golden)")


def run(out: Path, name: str, *args: str) -> None:
    proc = subprocess.run(
        [*MUXSCOPE, *args], capture_output=True, cwd=REPO, check=False
    )
    (out / f"{name}.out").write_bytes(proc.stdout)
    (out / f"{name}.rc").write_text(f"{proc.returncode}\n")


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for cap in sorted(Path("captures").glob("*.muxcap")):  # relative: the same text in any checkout
        run(out, f"report-{cap.stem}", "report", "--no-progress", str(cap))
        run(out, f"report-json-{cap.stem}", "report", "--no-progress", "--json", str(cap))
        html = out / f"report-{cap.stem}.html"
        run(out, f"report-html-{cap.stem}", "report", "--no-progress", "--html", str(html), str(cap))
        run(out, f"decode-json-{cap.stem}", "decode", "--json", str(cap))
        run(out, f"decode-{cap.stem}", "decode", str(cap))
        run(out, f"info-{cap.stem}", "capture", "info", str(cap))
    gold = golden_dir()
    for version in ("v42", "v44"):
        for frame in sorted((gold / version).glob("*.bin")):
            cv = version[1:]
            run(out, f"golden-{version}-{frame.stem}", "decode", "--json", "--codec-version", cv, str(frame))
            run(out, f"golden-tree-{version}-{frame.stem}", "decode", "--codec-version", cv, str(frame))


if __name__ == "__main__":
    main()
