"""Declarative schemas of every type the WezTerm mux protocol puts on the wire.

One module per Rust crate family (``termwiz``: lines, cells, colours, keys;
``mux``: panes, tabs, palettes, alerts, spawn commands; ``pdus``: the PDU
structs of ``codec/src/lib.rs``), and ``versions`` for what differs between
codec versions. Nothing here does I/O.
"""
