"""Showing user-supplied text safely: names are kept as given and escaped where shown.

A product or borrower name may hold anything a user typed, including control characters (an
ESC sequence can clear a terminal or retitle its window) and bidirectional controls (U+202E
before ``780000-5202-AD`` makes it display as ``DA-2025-000087``). The data keeps
them as given; :func:`terminal_safe` makes them visible wherever text reaches a terminal.
"""

from __future__ import annotations

import unicodedata

# Bidirectional and invisible format characters that change how neighbouring text displays.
_FORMAT_CONTROLS = frozenset(
    [0x061C, 0x180E, 0xFEFF, *range(0x200B, 0x2010), *range(0x2028, 0x202F), *range(0x2060, 0x2070)]
)


def _unsafe(ch: str) -> bool:
    code = ord(ch)
    return code in _FORMAT_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs")


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def terminal_safe(text: str) -> str:
    r"""Return ``text`` with every control, bidi or invisible format character escaped.

    Control characters (C0, DEL, C1), bidirectional controls (U+061C, U+200E-F, U+202A-E,
    U+2066-9), zero-width and other invisible format characters, line and paragraph
    separators and lone surrogates are written as ``\xNN``, ``\uNNNN`` or ``\UNNNNNNNN``;
    a backslash stays a backslash. Everything else, CJK included, is kept.

    Examples
    --------
    >>> terminal_safe("ZJ-\u202e780000-5202-AD\u202c")
    'ZJ-\\u202e780000-5202-AD\\u202c'
    >>> terminal_safe("数据产品\x1b[2J")
    '数据产品\\x1b[2J'
    """
    return "".join(_escape(ch) if _unsafe(ch) else ch for ch in text)


__all__ = ["terminal_safe"]
