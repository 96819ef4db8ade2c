"""User text in the memo and its charts: kept as given, shown so that nothing in it hides.

Names and ids come from the request as the borrower wrote them. A control character (NUL, ESC,
a line break) or an invisible format character (the bidi overrides U+202A-U+202E and isolates
U+2066-U+2069, marks such as U+200E, a zero-width space) would act on the display instead of
being seen: U+202E in front of "DENILCED" displays it as "DECLINED". Each such character is
replaced, for display only, by a visible ``U+XXXX`` marker; the zero-width joiner and
non-joiner, which some scripts need, are kept. In HTML the text is also bidi-isolated
(``<bdi>``), so that a right-to-left name cannot reorder the text around it.
"""

from __future__ import annotations

import unicodedata

from markupsafe import Markup, escape

# Unicode general categories that draw nothing: controls, format characters, line and
# paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# Format characters that are part of how some scripts are written (ZWNJ, ZWJ).
_KEPT = frozenset({"\u200c", "\u200d"})


def is_hidden(char: str) -> bool:
    """Whether ``char`` acts on the display instead of drawing a glyph (and is not kept)."""
    return char not in _KEPT and unicodedata.category(char) in _HIDDEN_CATEGORIES


def marker(char: str) -> str:
    """Return the visible stand-in of a hidden character: ``U+202E``."""
    return f"U+{ord(char):04X}"


def visible(text: str) -> str:
    """Return ``text`` with every hidden character replaced by ``⟨U+XXXX⟩`` (plain text)."""
    return "".join(f"⟨{marker(c)}⟩" if is_hidden(c) else c for c in text)


def html_text(text: str, css_class: str | None = None) -> Markup:
    """Return ``text`` as escaped, bidi-isolated HTML with hidden characters marked.

    Parameters
    ----------
    text
        The text as given.
    css_class
        Class of the ``<bdi>`` element (the memo's ``id`` class keeps an id on one line).

    Returns
    -------
    Markup
        ``<bdi>...</bdi>``; each hidden character is a ``<span class="hidden-char">`` holding
        its ``U+XXXX`` code, with a title that says what it is.
    """
    parts = []
    for char in text:
        if is_hidden(char):
            code = marker(char)
            name = unicodedata.name(char, "control character")
            parts.append(
                Markup('<span class="hidden-char" title="{} {}">{}</span>').format(
                    code, name.lower(), code
                )
            )
        else:
            parts.append(escape(char))
    attribute = Markup(' class="{}"').format(css_class) if css_class else Markup("")
    return Markup("<bdi{}>{}</bdi>").format(attribute, Markup("").join(parts))


__all__ = ["html_text", "is_hidden", "marker", "visible"]
