"""Arrow string kernels that build the tables' text columns without per-row Python."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray


def _labels(index: NDArray[np.int64], names: Any) -> pa.Array:
    """Return ``names[index]`` as an Arrow string array."""
    return pa.array(list(names), type=pa.string()).take(pa.array(index))


def _cat_arrays(*arrays: pa.Array) -> pa.Array:
    return pa.concat_arrays(list(arrays))


def _take(values: pa.Array, index: NDArray[np.int64]) -> pa.Array:
    return values.take(pa.array(index))


def _pad(values: NDArray[np.int64], width: int) -> pa.Array:
    """Return whole numbers as zero-padded decimal strings."""
    return pc.utf8_lpad(_text(np.asarray(values, dtype=np.int64)), width, "0")


def _fixed_width(data: bytes, width: int, n: int) -> pa.Array:
    """Cut ``n`` strings of ``width`` ASCII characters out of ``data``."""
    offsets = np.arange(0, width * n + 1, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def _text(values: Any, mask: Any = None) -> pa.Array:
    """Return ``values`` as an Arrow string array (numbers in shortest round-trip form)."""
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray) and values.dtype.kind in "iufb":
        return pc.cast(pa.array(values, mask=mask), pa.string())
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return pc.cast(pa.array(values, type=pa.date32(), mask=mask), pa.string())
    return pa.array(values, type=pa.string(), mask=mask)


def _days(days: NDArray[np.int64]) -> NDArray[np.datetime64]:
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]")


def _concat(*parts: pa.Array | str, sep: str = "", skip_nulls: bool = False) -> pa.Array:
    """Concatenate string arrays and literals element-wise (a null part gives null)."""
    args = [pa.scalar(p, pa.string()) if isinstance(p, str) else p for p in parts]
    handling = "skip" if skip_nulls else "emit_null"
    return pc.binary_join_element_wise(*args, sep, null_handling=handling)


def _join_lists(items: pa.Array, owner: NDArray[np.int64], n: int) -> pa.Array:
    """Join the item strings of each product (``owner`` sorted) with commas."""
    offsets = np.searchsorted(owner, np.arange(n + 1), side="left").astype(np.int32)
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), items), ",")
