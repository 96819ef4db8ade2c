"""Batch revaluation of a book of data products (``dpv revalue``), local engine.

One concept per module:

* :mod:`~valuation.revalue.source`: the portfolio file, its digest and its chunks of lines;
* :mod:`~valuation.revalue.chunk`: the pure function "JSON lines in, Arrow record batch out";
* :mod:`~valuation.revalue.ledger`: the resumable record of the chunks already done;
* :mod:`~valuation.revalue.publish`: the final dataset, re-chunked into fixed-size parts;
* :mod:`~valuation.revalue.run`: the checks, the loop and the exit status.
"""

from __future__ import annotations

from valuation.revalue.chunk import (
    QUARANTINE_SCHEMA,
    VALUES_SCHEMA,
    ChunkContext,
    ChunkOutput,
    value_chunk,
)
from valuation.revalue.run import ChunkDone, RevalueSummary, revalue

__all__ = [
    "QUARANTINE_SCHEMA",
    "VALUES_SCHEMA",
    "ChunkContext",
    "ChunkDone",
    "ChunkOutput",
    "RevalueSummary",
    "revalue",
    "value_chunk",
]
