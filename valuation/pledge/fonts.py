"""The memo's Chinese font: Noto Sans SC, embedded in the HTML and used by the charts.

Product and borrower names are often Chinese, and neither a fresh server nor a PDF printer is
sure to have a font for them (they print as empty boxes). The font comes with the install:
Noto Sans SC Regular (Adobe and Google, SIL Open Font License 1.1; 8.3 MB), from the
``pylopdf-fonts-zh-cn`` package, which ships it unchanged from the Noto CJK project with its
licence. It covers the CJK Unified Ideographs up to Unicode 13 and Extension A (27,558 Han
characters: every simplified and traditional character in use), kana, fullwidth forms and CJK
punctuation; not Hangul syllables, nor most of the rare Extensions B-G.

- **HTML**: :func:`font_face_css` subsets the font to the East Asian characters one memo
  uses and embeds it as a base64 WOFF ``@font-face`` (a few kB), restricted by
  ``unicode-range`` to those characters, so Latin text keeps the reader's sans-serif and the
  memo stays one self-contained file.
- **Charts**: :func:`chart_fonts` sets matplotlib's family list to DejaVu Sans then Noto Sans
  SC; matplotlib falls back glyph by glyph.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

CJK_FAMILY = "Noto Sans SC"
# The family name the memo's CSS gives the embedded subset.
HTML_FAMILY = "dpv memo CJK"
# From the CJK Radicals Supplement on (kana, Hangul, ideographs, fullwidth forms, and the
# supplementary planes): the characters that Latin fonts do not have.
EAST_ASIAN_START = 0x2E80
LICENCE_NOTE = (
    "Noto Sans SC, subset to this memo's characters. (c) 2014-2021 Adobe "
    "(http://www.adobe.com/). Licensed under the SIL Open Font License, Version 1.1 "
    "(https://openfontlicense.org)."
)


def cjk_font_path() -> Path:
    """Return the path of the installed Noto Sans SC Regular (OpenType, CFF outlines)."""
    from pylopdf_fonts_zh_cn import sans_path

    return Path(sans_path())


@lru_cache(maxsize=1)
def covered() -> frozenset[int]:
    """Return the code points the font has a glyph for."""
    from fontTools.ttLib import TTFont

    with TTFont(cjk_font_path(), lazy=True) as font:
        return frozenset(font.getBestCmap())


def east_asian_characters(text: str) -> str:
    """Return the distinct characters of ``text`` from U+2E80 on that the font has, sorted."""
    font = covered()
    return "".join(sorted({c for c in text if ord(c) >= EAST_ASIAN_START and ord(c) in font}))


def _unicode_range(chars: str) -> str:
    """CSS ``unicode-range`` of sorted characters, consecutive code points merged."""
    spans: list[list[int]] = []
    for code in map(ord, chars):
        if spans and code == spans[-1][1] + 1:
            spans[-1][1] = code
        else:
            spans.append([code, code])
    return ", ".join(f"U+{a:X}" if a == b else f"U+{a:X}-{b:X}" for a, b in spans)


def subset_woff(chars: str) -> bytes:
    """Return the font reduced to ``chars`` (and .notdef) as WOFF bytes.

    Horizontal text in the font's own (simplified Chinese) forms needs no layout tables: they
    are dropped, and so are the vertical metrics, which also keeps this fast (about 0.2 s).
    """
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx"]
    options.desubroutinize = True
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    with TTFont(cjk_font_path(), lazy=True) as font:
        subsetter.subset(font)
        buffer = io.BytesIO()
        font.flavor = "woff"
        font.save(buffer)
    return buffer.getvalue()


def font_face_css(text: str) -> str:
    """Return the ``@font-face`` rule that draws the East Asian characters of ``text``.

    Parameters
    ----------
    text
        Everything the page shows (its whole HTML will do: markup is ASCII).

    Returns
    -------
    str
        A CSS rule for the family :data:`HTML_FAMILY`, with the subset as a ``data:`` URL and
        a ``unicode-range`` of exactly those characters; ``""`` when ``text`` has none.
    """
    chars = east_asian_characters(text)
    if not chars:
        return ""
    data = base64.b64encode(subset_woff(chars)).decode("ascii")
    return (
        f"/* {LICENCE_NOTE} */\n"
        f'@font-face {{ font-family: "{HTML_FAMILY}"; font-style: normal; font-weight: 400;\n'
        f'  src: url(data:font/woff;base64,{data}) format("woff");\n'
        f"  unicode-range: {_unicode_range(chars)}; }}"
    )


@lru_cache(maxsize=1)
def _register() -> str:
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(cjk_font_path()))
    return CJK_FAMILY


@contextmanager
def chart_fonts() -> Iterator[None]:
    """Within the block, matplotlib draws text in DejaVu Sans, falling back to Noto Sans SC."""
    from matplotlib import rc_context

    with rc_context({"font.family": ["DejaVu Sans", _register()]}):
        yield


__all__ = [
    "CJK_FAMILY",
    "EAST_ASIAN_START",
    "HTML_FAMILY",
    "chart_fonts",
    "cjk_font_path",
    "covered",
    "east_asian_characters",
    "font_face_css",
    "subset_woff",
]
