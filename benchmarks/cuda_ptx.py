"""The GPU kernels' PTX without a GPU (NVVM needed), normalised, to compare two builds.

    python benchmarks/cuda_ptx.py OUT_DIR            # stress.ptx, book.ptx, gbm.ptx (cc 9.0)
    python benchmarks/cuda_ptx.py --compare DIR_A DIR_B

Each kernel is compiled for the argument types its launch gives it (named tuples of C-contiguous
arrays, :mod:`valuation.kernels.cuda.arguments`), through the package's own compilation
(``-fma=0``), by :func:`valuation.kernels.cuda._numba_internals.ptx_without_a_gpu`. The files
are normalised so that two builds of the same code compare equal byte for byte: every
numba-mangled symbol is written as its dotted function name (a mangled name carries the
argument types and a per-process unique number), and the declarations of numba's environment
globals, emitted in a per-process order, are sorted. ``--compare`` prints, per kernel, whether
the two folders' files are identical.

NVVM from pip, where no CUDA toolkit is installed (no GPU or driver needed)::

    pip install --target /tmp/nvvm "nvidia-cuda-nvrtc==13.*" "nvidia-nvvm==13.*" \
        "nvidia-cuda-runtime==13.*"
    export CUDA_HOME=/tmp/nvvm/nvidia/cu13 LD_LIBRARY_PATH=/tmp/nvvm/nvidia/cu13/lib
    PYTHONPATH=.:/tmp/nvvm python benchmarks/cuda_ptx.py ptx/
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

KERNELS = ("stress", "book", "gbm")


def _arrays(*specs: tuple[Any, int]) -> list[np.ndarray]:
    """Arrays of the given dtypes and dimensions (their type is all that matters here)."""
    return [np.zeros((1,) * ndim, dtype=dtype) for dtype, ndim in specs]


def signatures() -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """Return each kernel's Python function and the numba types of its launch's arguments."""
    from numba import typeof

    from valuation.kernels.cuda import gbm, paths
    from valuation.kernels.cuda.arguments import DeviceConstants, Scratch
    from valuation.kernels.layout import PathOutputs, StressArrays

    f8, i8, u8, u1, f4 = np.float64, np.int64, np.uint64, np.uint8, np.float32
    scratch = Scratch._make(_arrays((f8, 2), (f8, 2), (f8, 2), (f8, 2)))
    one = StressArrays._make(
        [*_arrays((f8, 2), (i8, 1), (u8, 1), (u8, 1), (u8, 1), (f8, 1), (f8, 1)), 6]
    )
    stress = (
        one,
        0,
        0,
        1,
        DeviceConstants._make([*_arrays((f8, 2), (i8, 2), (f8, 1)), 1.0]),
        scratch,
        PathOutputs._make(_arrays((f8, 1), (i8, 1), (f8, 1), (f8, 1), (u1, 2), (f8, 2), (f4, 2))),
    )
    book = (
        StressArrays._make(
            _arrays((f8, 2), (i8, 1), (u8, 1), (u8, 1), (u8, 2), (f8, 2), (f8, 2), (i8, 1))
        ),
        *_arrays((i8, 1), (i8, 1)),
        DeviceConstants._make(_arrays((f8, 2), (i8, 2), (f8, 2), (f8, 1))),
        0,
        1,
        scratch,
        PathOutputs._make(_arrays((f8, 2), (i8, 2), (f8, 2), (f8, 2), (u1, 3), (f8, 3), (f4, 3))),
    )
    yardstick = (
        *_arrays((f8, 1), (f8, 1), (f8, 1), (u8, 1), (i8, 1), (u8, 1)),
        0.5,
        0.5,
        np.uint64(1),
        *_arrays((f8, 1)),
        1.0,
        0,
        1,
        *_arrays((f8, 1)),
    )
    return {
        name: (kernel.py_func, tuple(typeof(a) for a in args))
        for name, kernel, args in (
            ("stress", paths._stress_kernel, stress),
            ("book", paths._book_kernel, book),
            ("gbm", gbm._gbm_kernel, yardstick),
        )
    }


def kernel_ptx(cc: tuple[int, int] = (9, 0)) -> dict[str, str]:
    """Return each kernel's PTX for compute capability ``cc``, as compiled (not normalised)."""
    from valuation.kernels.cuda._numba_internals import ptx_without_a_gpu

    return {name: ptx_without_a_gpu(f, sig, cc) for name, (f, sig) in signatures().items()}


def _demangle(match: re.Match[str]) -> str:
    symbol = match.group(0)
    env = symbol.startswith("_ZN08NumbaEnv")
    i = len("_ZN08NumbaEnv") if env else len("_ZN")
    parts = []
    while i < len(symbol) and symbol[i].isdigit():
        j = i
        while symbol[j].isdigit():
            j += 1
        parts.append(symbol[j : j + int(symbol[i:j])])
        i = j + int(symbol[i:j])
    return ("ENV:" if env else "") + ".".join(parts)


def normalise(ptx: str) -> str:
    """Return ``ptx`` with mangled symbols as dotted names and environment globals sorted."""
    lines = re.sub(r"_ZN\w+", _demangle, ptx).split("\n")
    env = [line for line in lines if line.startswith(".common .global") and "ENV:" in line]
    rest = [line for line in lines if line not in env]
    first = next((i for i, line in enumerate(lines) if line in env), len(rest))
    return "\n".join(rest[:first] + sorted(env) + rest[first:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="OUT_DIR, or DIR_A DIR_B")
    parser.add_argument("--compare", action="store_true", help="compare two folders' files")
    args = parser.parse_args()
    if args.compare:
        a, b = args.folders
        same = {k: (a / f"{k}.ptx").read_bytes() == (b / f"{k}.ptx").read_bytes() for k in KERNELS}
        for name, equal in same.items():
            print(f"{name}: {'identical' if equal else 'DIFFERENT'}")
        sys.exit(0 if all(same.values()) else 1)
    (out,) = args.folders
    out.mkdir(parents=True, exist_ok=True)
    for name, ptx in kernel_ptx().items():
        (out / f"{name}.ptx").write_text(normalise(ptx))
        print(f"{name}: {len(ptx)} characters of PTX -> {out / f'{name}.ptx'}")


if __name__ == "__main__":
    main()
