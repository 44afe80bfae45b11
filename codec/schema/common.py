"""Small types shared by several schema modules."""

from __future__ import annotations

from codec.wire.varbincode import F32, Tuple

#: ``wezterm_color_types::SrgbaTuple(pub f32, pub f32, pub f32, pub f32)``: a tuple struct.
SRGBA_TUPLE = Tuple(F32, F32, F32, F32, name="SrgbaTuple")
