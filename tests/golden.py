"""The golden vectors: frames made by WezTerm's own Rust types (``tests/golden/README.md``).

They are test data kept in the repository (``tests/golden/``), so a clone on its
own runs every correctness test. The project's shared copy (``../shared/golden``
beside the clone, or ``MUXSCOPE_GOLDEN_DIR``) is where new vectors arrive;
``tests/unit/test_golden_sync.py`` fails when the two differ, and
``python3 -m tests.golden --sync`` copies the shared set in.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import sys
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
VERSIONS = ("v42", "v44")


def shared_dir() -> Path:
    """Where the project's shared copy would be (it may not exist: a lone clone)."""
    return Path(os.environ.get("MUXSCOPE_GOLDEN_DIR") or REPO.parent / "shared" / "golden")


def available() -> bool:
    return (GOLDEN / "v44" / "manifest.json").is_file()


@cache
def manifest(version: str) -> dict[str, Any]:
    return json.loads((GOLDEN / version / "manifest.json").read_text())


def entries(version: str) -> list[dict[str, Any]]:
    return manifest(version)["files"]


def all_entries() -> list[tuple[str, dict[str, Any]]]:
    return [(v, e) for v in VERSIONS for e in entries(v)]


def frame_bytes(version: str, entry: dict[str, Any]) -> bytes:
    return (GOLDEN / version / entry["file"]).read_bytes()


def payload_bytes(version: str, entry: dict[str, Any]) -> bytes:
    return (GOLDEN / version / entry["payload_file"]).read_bytes()


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def normalise(value: Any) -> Any:
    """The README's comparison rules: floats as float32; maps compared as maps (dicts already are)."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, float):
        return _f32(value)
    return value


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by relative path."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def sync(source: Path) -> None:
    """Replace ``tests/golden`` by a copy of ``source`` (new, changed and removed files alike)."""
    if not (source / "v44" / "manifest.json").is_file():
        raise SystemExit(f"no golden vectors at {source}")
    shutil.rmtree(GOLDEN, ignore_errors=True)
    shutil.copytree(source, GOLDEN)
    for p in GOLDEN.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)  # the shared copy is read-only; the repository's is not


if __name__ == "__main__":
    if sys.argv[1:] != ["--sync"]:
        raise SystemExit("usage: python3 -m tests.golden --sync   (copy ../shared/golden into tests/golden)")
    sync(shared_dir())
    print(f"tests/golden now equals {shared_dir()} ({len(digests(GOLDEN))} files)")
