"""Placeholders for text: same display width, same grapheme structure, none of the content.

The text-replacement engine of ``capture scrub``: every grapheme that is not kept (spaces,
punctuation, escape sequences) becomes a letter or a wide placeholder of the same width, so a
scrubbed line still wraps, aligns and fingerprints as a line of its size.
"""


from __future__ import annotations

import hashlib
import hmac
import random
import re
import unicodedata
from collections.abc import Iterator

from codec.direction import Direction
from codec.lines import cell_width

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT



LOWER = "abcdefghijklmnopqrstuvwxyz"
UPPER = LOWER.upper()
#: kept as they are: they carry layout, not content
KEEP_CHARS = frozenset(" \t\r\n\x0b\x0c!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
#: CSI and SS3 escape sequences in pasted/written bytes are control, not text: kept so the bytes still work
_CSI = re.compile(r"\x1b\[[0-9;:?<=>]*[ -/]*[@-~]|\x1bO.")
_ZERO_WIDTH_PLACEHOLDER = "\u200b"
#: PDU fields left alone: not personal, and useful when reading a scrubbed capture


def _joins_previous(ch: str) -> bool:
    """Whether ``ch`` extends the grapheme before it (combining marks, ZWJ, selectors, skin tones)."""
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me")
        or cp == 0x200D
        or 0xFE00 <= cp <= 0xFE0F
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xE0100 <= cp <= 0xE01EF
    )


def graphemes(text: str) -> Iterator[str]:
    """A simple grapheme segmentation: enough to give each placeholder its original's width."""
    cur = ""
    for ch in text:
        if cur and (_joins_previous(ch) or cur.endswith("\u200d")):
            cur += ch
            continue
        if cur:
            yield cur
        cur = ch
    if cur:
        yield cur


def is_kept(g: str) -> bool:
    """Layout characters (space, punctuation, controls) stay: they carry structure, not content."""
    return g == "" or (len(g) == 1 and (g in KEEP_CHARS or ord(g) < 0x20 or ord(g) == 0x7F))


class Substitution:
    """One word's mapping from graphemes to placeholders of the same width.

    Seeded from the word (and the secret), so a word scrubs the same wherever
    it appears: a line fetched twice still fingerprints equal, and text that
    repeats across lines still compresses like the original. Different words
    get unrelated mappings, so the only things that survive are word lengths,
    layout characters and which words are equal. No grapheme maps to itself.
    """

    def __init__(self, seed: bytes) -> None:
        self.rng = random.Random(seed)
        self.map: dict[str, str] = {}

    def grapheme(self, g: str) -> str:
        out = self.map.get(g)
        if out is not None:
            return out
        if is_kept(g):
            out = g
        else:
            w = 1 if 0xDC80 <= ord(g[0]) <= 0xDCFF else cell_width(g)  # a raw byte of invalid UTF-8
            if w == 0:
                out = _ZERO_WIDTH_PLACEHOLDER
            elif w == 1:
                pool = UPPER if g.isupper() else LOWER  # keeping case keeps compressed sizes close
                out = g
                while out == g:
                    out = pool[self.rng.randrange(len(pool))]
            else:
                out = g
                while out == g:
                    out = chr(0x4E00 + self.rng.randrange(0x5000))  # CJK ideographs: width 2
        self.map[g] = out
        return out


class Placeholders:
    """Turns text into placeholders, word by word, keyed by a secret (unguessable without it)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self._keys = 0

    def word(self, word: str) -> Substitution:
        return Substitution(hmac.new(self.secret, word.encode("utf-8", "surrogatepass"), hashlib.sha256).digest())

    def keystroke(self, ch: str) -> str:
        """Each key gets a fresh mapping: one mapping per key would be a substitution cipher over the typing."""
        self._keys += 1
        return Substitution(hmac.new(self.secret, b"key:%d" % self._keys, hashlib.sha256).digest()).grapheme(ch)

    def graphemes(self, parts: list[str]) -> list[str]:
        """Scrub a sequence of graphemes (or cell texts): runs of non-layout ones form the words."""
        out: list[str] = []
        i = 0
        while i < len(parts):
            if is_kept(parts[i]):
                out.append(parts[i])
                i += 1
                continue
            j = i
            while j < len(parts) and not is_kept(parts[j]):
                j += 1
            sub = self.word("".join(parts[i:j]))
            out.extend(sub.grapheme(g) for g in parts[i:j])
            i = j
        return out

    def string(self, text: str) -> str:
        parts = []
        pos = 0
        for m in _CSI.finditer(text):
            parts.append("".join(self.graphemes(list(graphemes(text[pos:m.start()])))))
            parts.append(m.group())
            pos = m.end()
        parts.append("".join(self.graphemes(list(graphemes(text[pos:])))))
        return "".join(parts)

    def data(self, data: bytes) -> bytes:
        return self.string(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
