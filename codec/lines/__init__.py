"""Line facts for the proxy's analysis: text, width, fingerprints, and a fast scan of raw bytes.

Two ways in, giving the same answers:

* from decoded values (``SERIALIZED_LINES.loads(...)`` / ``LINE`` values):
  :func:`line_text`, :func:`line_facts`, :func:`line_fingerprint`,
  :func:`serialized_lines_fingerprints`;
* from the raw varbincode bytes of a ``SerializedLines``, without building any
  cell objects: :func:`scan_serialized_lines`.

One job per module: :mod:`.width` (cell widths, termwiz's tables), :mod:`.text` (``as_str()``
and friends), :mod:`.rewrap` (what a rewrap can alter), :mod:`.fingerprint` (the content
fingerprint's definition, from decoded values), :mod:`.patterns` and :mod:`.scan` (the same
fingerprints straight from the wire).
"""

from codec.lines.fingerprint import (
    FINGERPRINT_SIZE,
    FINGERPRINT_VERSION,
    line_fingerprint,
    serialized_lines_fingerprints,
)
from codec.lines.rewrap import WRAPPED_BIT, WrapFacts, line_wrap_facts, rewrap_rows
from codec.lines.scan import LineSummary, scan_serialized_lines, scan_serialized_lines_detail
from codec.lines.text import line_facts, line_len, line_text, visible_cells
from codec.lines.width import cell_width

__all__ = [
    "FINGERPRINT_SIZE",
    "FINGERPRINT_VERSION",
    "WRAPPED_BIT",
    "LineSummary",
    "WrapFacts",
    "cell_width",
    "line_facts",
    "line_fingerprint",
    "line_len",
    "line_text",
    "line_wrap_facts",
    "rewrap_rows",
    "scan_serialized_lines",
    "scan_serialized_lines_detail",
    "serialized_lines_fingerprints",
    "visible_cells",
]
