"""The golden vectors in the repository are whole, and equal the project's shared copy when it is beside the clone."""

from __future__ import annotations

from tests import golden


def test_every_manifest_entry_has_its_files() -> None:
    """Frame and payload files exist with the lengths and header bytes the manifest gives."""
    assert golden.available()
    for version in golden.VERSIONS:
        assert golden.entries(version), version
        for entry in golden.entries(version):
            frame = golden.frame_bytes(version, entry)
            assert len(frame) == entry["frame_len"], (version, entry["file"])
            assert frame.hex().startswith(entry["header_hex"]), (version, entry["file"])
            assert len(golden.payload_bytes(version, entry)) == entry["payload_len"], (version, entry["file"])


def test_the_copy_is_current() -> None:
    """Against ``../shared/golden`` when it is there; a lone clone checks its stream file against the manifest."""
    shared = golden.shared_dir()
    if (shared / "v44" / "manifest.json").is_file():
        ours, theirs = golden.digests(golden.GOLDEN), golden.digests(shared)
        differ = sorted(p for p in ours.keys() | theirs.keys() if ours.get(p) != theirs.get(p))
        assert not differ, (f"tests/golden differs from {shared} in {len(differ)} files (first: {differ[:5]}); "
                            "run `python3 -m tests.golden --sync` and commit")
        return
    for version in golden.VERSIONS:
        stream = golden.manifest(version)["stream"]
        data = (golden.GOLDEN / version / stream["file"]).read_bytes()
        assert stream["frames"], version
        end = max(f["offset"] + f["frame_len"] for f in stream["frames"])
        assert end == len(data), version
