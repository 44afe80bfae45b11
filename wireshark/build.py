"""Build ``wireshark/muxscope.lua``: the Lua sources in ``wireshark/src/`` plus a schema generated from muxscope's.

The dissector must read every PDU exactly as muxscope reads it, for every codec
version muxscope supports. So the ident table and the varbincode schema of
every PDU are not written by hand in Lua: this script walks
``codec/schema/versions.py`` (which derives the other versions from ``pdus.py``'s
44) and writes them as Lua tables. Wireshark loads a plugin as one file, so the
hand-written parts (``src/*.lua``, one job each) are joined around that section
into ``muxscope.lua``, which is committed for users to copy. A test runs
``--check``, so a schema or source change that is not rebuilt fails CI.

Usage::

    python3 wireshark/build.py          # rewrite wireshark/muxscope.lua
    python3 wireshark/build.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from codec.schema import versions  # noqa: E402
from codec.schema.common import SRGBA_TUPLE  # noqa: E402
from codec.wire.varbincode import (  # noqa: E402
    Array,
    Custom,
    Enum,
    Flags,
    Map,
    Newtype,
    Option,
    Primitive,
    Ref,
    Schema,
    Seq,
    Struct,
    Tuple,
    UnitStruct,
)
from proxy.capture.pcapng import DEFAULT_SERVER_PORT  # noqa: E402

LUA_FILE = REPO / "wireshark" / "muxscope.lua"
SRC = REPO / "wireshark" / "src"
#: the parts of muxscope.lua in order; None is the generated schema
PARTS = ("header.lua", None, "proto.lua", "payload.lua", "zstd.lua", "frames.lua")
BEGIN = "-- BEGIN GENERATED SCHEMA (wireshark/build.py from codec/schema)"
END = "-- END GENERATED SCHEMA"
#: Custom (hand-written serde) types the Lua walker implements by name; a new
#: Custom type in the schema stops generation until the walker learns it.
LUA_CUSTOM = {"Palette256", "OsString"}


def _lua_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Emitter:
    """Numbers every distinct schema node and renders it as one Lua table constructor."""

    def __init__(self) -> None:
        self.ids: dict[int, int] = {}
        self.lines: list[str] = []
        self._keep: list[Schema] = []  # keep objects alive so id() stays unique

    def node(self, schema: Schema) -> int:
        while isinstance(schema, Ref):
            assert schema.target is not None, f"unresolved reference {schema.name}"
            schema = schema.target
        key = id(schema)
        if key in self.ids:
            return self.ids[key]
        nid = len(self.ids) + 1
        self.ids[key] = nid
        self._keep.append(schema)
        self.lines.append("")  # reserve the slot: children may recurse back here
        self.lines[nid - 1] = f"N[{nid}] = {self._render(schema)}"
        return nid

    def _render(self, s: Schema) -> str:
        name = _lua_str(s.name)
        if isinstance(s, Primitive):
            return f"{{k={_lua_str('prim')}, t={name}}}"
        if isinstance(s, Custom):
            if s.name not in LUA_CUSTOM:
                raise SystemExit(f"build: Custom type {s.name} has no reader in wireshark/src/payload.lua (CUSTOM)")
            if s.name == "Palette256":
                return f'{{k="custom", name={name}, item={self.node(SRGBA_TUPLE)}}}'
            return f'{{k="custom", name={name}}}'
        if isinstance(s, Option):
            return f'{{k="option", name={name}, inner={self.node(s.inner)}}}'
        if isinstance(s, Seq):
            return f'{{k="seq", name={name}, item={self.node(s.item)}}}'
        if isinstance(s, Map):
            return f'{{k="map", name={name}, key={self.node(s.key)}, val={self.node(s.value)}}}'
        if isinstance(s, Array):
            return f'{{k="array", name={name}, item={self.node(s.item)}, n={s.length}}}'
        if isinstance(s, Tuple):
            items = ", ".join(str(self.node(i)) for i in s.items)
            return f'{{k="tuple", name={name}, items={{{items}}}}}'
        if isinstance(s, Struct):
            fields = ", ".join(f"{{{_lua_str(n)}, {self.node(f)}}}" for n, f in s.fields)
            return f'{{k="struct", name={name}, fields={{{fields}}}}}'
        if isinstance(s, Newtype):
            return f'{{k="newtype", name={name}, inner={self.node(s.inner)}}}'
        if isinstance(s, UnitStruct):
            return f'{{k="unit", name={name}}}'
        if isinstance(s, Enum):
            vs = ", ".join(
                f"{{{_lua_str(v.name)}, {self.node(v.payload) if v.payload is not None else 'nil'}}}"
                for v in s.variants
            )
            return f'{{k="enum", name={name}, variants={{{vs}}}}}'
        if isinstance(s, Flags):
            names = ", ".join(f"{{{bit}, {_lua_str(n)}}}" for bit, n in s.names.items())
            return f'{{k="flags", name={name}, inner={self.node(s.inner)}, names={{{names}}}}}'
        raise SystemExit(f"build: schema kind {type(s).__name__} ({s.name}) is unknown to the generator")


def render() -> str:
    """The generated section, markers included."""
    em = _Emitter()
    tables = []
    names: dict[int, str] = {}
    for number in versions.SUPPORTED:
        v = versions.VERSIONS[number]
        rows = []
        for ident in sorted(v.table):
            schema = v.table[ident]
            names.setdefault(ident, schema.name)
            if names[ident] != schema.name:
                raise SystemExit(f"build: ident {ident} is {names[ident]} in one version, "
                                 f"{schema.name} in {number}")
            rows.append(f"[{ident}]={em.node(schema)}")
        tables.append(f"  [{number}] = {{{', '.join(rows)}}},")
    out = [BEGIN, "local N = {}"]
    out += em.lines
    out.append("local PDU_SCHEMAS = {")
    out += tables
    out.append("}")
    out.append("local PDU_NAMES = {")
    out += [f"  [{i}] = {_lua_str(n)}," for i, n in sorted(names.items())]
    out.append("}")
    out.append(f"local CODEC_VERSIONS = {{{', '.join(str(n) for n in versions.SUPPORTED)}}}")
    out.append(f"local DEFAULT_CODEC_VERSION = {versions.DEFAULT_VERSION}")
    out.append(f"local DEFAULT_PORT = {DEFAULT_SERVER_PORT}")
    out.append(END)
    return "\n".join(out) + "\n"


def build() -> str:
    """The whole plugin: each source with its name above it, the schema where PARTS puts it."""
    out = []
    for part in PARTS:
        if part is None:
            out.append(render())
        elif part == PARTS[0]:
            built = "-- Built by wireshark/build.py from wireshark/src/*.lua and codec/schema: edit those and rebuild."
            out.append((SRC / part).read_text().rstrip("\n") + "\n--\n" + built + "\n")
        else:
            out.append(f"-- ==== wireshark/src/{part} " + "=" * (86 - len(part)) + "\n" + (SRC / part).read_text())
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if muxscope.lua does not match wireshark/src and the schema")
    parser.add_argument("--lua", type=Path, default=LUA_FILE, help="the plugin file (default: %(default)s)")
    args = parser.parse_args(argv)
    text = args.lua.read_text() if args.lua.exists() else ""
    new = build()
    if args.check:
        if new != text:
            print(f"{args.lua}: stale; run python3 wireshark/build.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        args.lua.write_text(new)
        print(f"{args.lua}: rebuilt", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
