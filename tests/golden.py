"""Access to ../shared/golden: frames made by WezTerm's own Rust types (see its README)."""

from __future__ import annotations

import json
import os
import struct
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(os.environ.get("MUXSCOPE_GOLDEN_DIR", REPO.parent / "shared" / "golden"))
VERSIONS = ("v42", "v44")


def available() -> bool:
    return (GOLDEN / "v44" / "manifest.json").is_file()


@cache
def manifest(version: str) -> dict[str, Any]:
    return json.loads((GOLDEN / version / "manifest.json").read_text())


def entries(version: str) -> list[dict[str, Any]]:
    return manifest(version)["files"]


def all_entries() -> list[tuple[str, dict[str, Any]]]:
    if not available():
        return []
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
