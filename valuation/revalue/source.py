"""The portfolio to revalue: products as JSON Lines, read in chunks of lines.

``PORTFOLIO`` is a ``.jsonl`` file with one Product per line (what ``dpv synth`` writes as
``products.jsonl``) or a folder written by ``dpv synth`` (its ``products.jsonl`` is used).
Parquet and CSV product tables are not read yet.

The file is read twice: once here to take its SHA-256 and count its lines (the ledger of a
resumable run is tied to that digest), then chunk by chunk. Lines are bytes: a line that is not
UTF-8 is quarantined by the chunk function like any other bad line, never a crash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from valuation.exceptions import MSG_FILE_NOT_FOUND, MSG_NOT_A_FILE, DpvInputError

PRODUCTS_JSONL = "products.jsonl"
MSG_TABLE_NOT_YET = (
    "Parquet and CSV product tables are not read yet: give products as JSON Lines "
    "(products.jsonl, one Product per line)"
)
MSG_NO_JSONL = f"folder has no {PRODUCTS_JSONL} (a folder written by `dpv synth` has one)"
MSG_UNREADABLE = "cannot read the file: {detail}"

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Portfolio:
    """A portfolio file, identified by its digest.

    Attributes
    ----------
    path : Path
        The JSON Lines file.
    sha256 : str
        SHA-256 of its bytes.
    size_bytes : int
        Its size.
    lines : int
        Its number of lines (a last line without a newline counts).
    """

    path: Path
    sha256: str
    size_bytes: int
    lines: int


def open_portfolio(argument: str | Path) -> Portfolio:
    """Resolve ``PORTFOLIO`` to its JSON Lines file, hash it and count its lines.

    Raises
    ------
    DpvInputError
        The path is missing, a table format not read yet, a folder without ``products.jsonl``
        or a file that cannot be read; the message names it.
    """
    path = Path(argument)
    if not path.exists():
        raise DpvInputError(MSG_FILE_NOT_FOUND, source=str(path))
    if path.is_dir():
        if not (path / PRODUCTS_JSONL).is_file():
            raise DpvInputError(MSG_NO_JSONL, source=str(path))
        path = path / PRODUCTS_JSONL
    if not path.is_file():
        raise DpvInputError(MSG_NOT_A_FILE, source=str(path))
    if path.suffix.lower() in (".parquet", ".csv"):
        raise DpvInputError(MSG_TABLE_NOT_YET, source=str(path))
    digest = hashlib.sha256()
    size = 0
    newlines = 0
    last = b"\n"
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                digest.update(block)
                size += len(block)
                newlines += block.count(b"\n")
                last = block[-1:]
    except OSError as exc:
        raise DpvInputError(MSG_UNREADABLE.format(detail=exc.strerror), source=str(path)) from None
    lines = newlines + (0 if last == b"\n" else 1)
    return Portfolio(path=path, sha256=digest.hexdigest(), size_bytes=size, lines=lines)


def iter_chunks(portfolio: Portfolio, chunk_size: int) -> Iterator[tuple[int, list[bytes]]]:
    """Yield ``(first_line, lines)`` for consecutive chunks of ``chunk_size`` lines.

    ``first_line`` is 1-based; the lines keep no line terminator. Only one chunk is in memory.
    """
    first = 1
    lines: list[bytes] = []
    with portfolio.path.open("rb") as handle:
        for raw in handle:
            lines.append(raw.rstrip(b"\r\n"))
            if len(lines) == chunk_size:
                yield first, lines
                first += len(lines)
                lines = []
    if lines:
        yield first, lines


def chunk_count(portfolio: Portfolio, chunk_size: int) -> int:
    """Return the number of chunks :func:`iter_chunks` yields."""
    return -(-portfolio.lines // chunk_size)


__all__ = [
    "MSG_NO_JSONL",
    "MSG_TABLE_NOT_YET",
    "PRODUCTS_JSONL",
    "Portfolio",
    "chunk_count",
    "iter_chunks",
    "open_portfolio",
]
