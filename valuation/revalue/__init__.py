"""Batch revaluation of a book of data products (``dpv revalue``).

One concept per module:

* :mod:`~valuation.revalue.source`: the portfolio file, its digest and its record batches;
* :mod:`~valuation.revalue.loans`: the loan table, keyed by product id;
* :mod:`~valuation.revalue.risk`: a product's loan columns (LTV, stress, max loan, grade);
* :mod:`~valuation.revalue.chunk`: the pure function "record batch in, record batch out";
* :mod:`~valuation.revalue.engines`: where chunks run (this process, or a Dask cluster);
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
