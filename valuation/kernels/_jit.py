"""The one place that owns every numba option.

Nothing else in the project writes ``fastmath=``, ``cache=``, ``parallel=`` or imports
``numba.njit`` directly: kernels are decorated with :func:`jit` (serial) or :func:`jit_parallel`
and loop with :data:`prange`.

Options
-------
* **Cache.** Compiled kernels are cached on disk in a directory versioned by the dpv, numba and
  Python versions (``$DPV_CACHE_DIR`` or ``~/.cache/dpv``), so an upgrade never loads a stale
  kernel. ``dpv warmup`` fills it.
* **Fast-math.** A *safe* flag set: ``nsz`` and ``arcp`` only. No ``nnan``/``ninf`` (NaN checks
  must keep working), no ``reassoc`` (it lets LLVM reorder sums, so a reduction could depend on
  the vector width of the machine) and no ``contract`` (FMA on one CPU and not on another).
  Results must be bit-identical on any thread count and on any x86-64 machine.
* **Vector width.** On CPUs with AVX-512, LLVM may use 512-bit vectors
  (:func:`_configure_vector_width`; ``DPV_VECTOR_WIDTH=256`` keeps its 256-bit default). The
  bits of every result are the same at either width.
* **Error model.** ``error_model="numpy"``: a float division by zero gives inf/NaN as in NumPy
  instead of raising ``ZeroDivisionError``. Python's model puts a branch before every ``/``,
  which keeps LLVM from vectorising the random-number and path loops; the kernels never rely
  on the exception (they check their inputs instead).
* **Switch.** ``DPV_DISABLE_JIT=1`` runs every kernel as plain Python (for debugging and
  coverage); ``NUMBA_DISABLE_JIT=1`` does the same through numba itself.
* **Threads.** ``NUMBA_NUM_THREADS`` is respected; parallel kernels are written so that each
  iteration owns its outputs and its random stream, never a thread. Serial kernels that
  release the GIL can instead be run on disjoint ranges by :func:`run_parallel` (a plain
  thread pool of ``NUMBA_NUM_THREADS`` threads): it needs neither ``parallel=True`` compilation
  nor numba's threading layer, which makes the first call of a process much cheaper.
* **Bit tricks.** :func:`trailing_zeros` (numba's ``cttz`` intrinsic, a plain-Python fallback
  when the JIT is off) walks the set bits of a mask, for kernels that gather rare lanes.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

from valuation._version import __version__

F = TypeVar("F", bound=Callable[..., Any])

FASTMATH_FLAGS: frozenset[str] = frozenset({"nsz", "arcp"})
ERROR_MODEL = "numpy"
DISABLE_JIT: bool = os.environ.get("DPV_DISABLE_JIT", "") not in ("", "0")


def cache_dir() -> Path:
    """Return the versioned numba cache directory for this engine.

    Returns
    -------
    pathlib.Path
        ``$DPV_CACHE_DIR/numba-<dpv>-<numba>-py<major><minor>`` (default base ``~/.cache/dpv``).
    """
    import numba

    base = Path(os.environ.get("DPV_CACHE_DIR", Path.home() / ".cache" / "dpv"))
    tag = f"numba-{__version__}-{numba.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"
    return base / tag


def _configure_cache() -> None:
    import numba

    if not os.environ.get("NUMBA_CACHE_DIR"):
        path = cache_dir()
        path.mkdir(parents=True, exist_ok=True)
        numba.config.CACHE_DIR = str(path)  # type: ignore[attr-defined]


def _configure_vector_width() -> None:
    """Let LLVM use 512-bit vectors where the CPU has AVX-512 (``DPV_VECTOR_WIDTH=256``: don't).

    LLVM's tuning for Intel cores with AVX-512 prefers 256-bit vectors (wide vectors once cost
    clock speed on mixed code). The kernels are long runs of vector arithmetic that gain from the
    full width: Philox 1.8× and the exponential 1.4× faster here. No bit changes: without
    ``reassoc`` and ``contract`` every lane computes the same IEEE operations at any width.
    ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES`` set by the user win; so does any numba
    compilation that ran in the process before this module was imported.
    """
    import numba

    if os.environ.get("DPV_VECTOR_WIDTH", "") == "256" or numba.config.CPU_FEATURES is not None:  # type: ignore[attr-defined]
        return
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    if features.get("avx512f", False):
        numba.config.CPU_FEATURES = features.flatten() + ",-prefer-256-bit"  # type: ignore[attr-defined]


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def pool_threads() -> int:
    """Return the number of threads :func:`run_parallel` uses (``NUMBA_NUM_THREADS``)."""
    if DISABLE_JIT:
        return 1
    import numba

    return max(1, int(numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]


def run_parallel(task: Callable[[int, int], object], n: int, grain: int) -> None:
    """Call ``task(begin, end)`` on disjoint ranges that cover ``0 .. n − 1``, in parallel.

    Ranges are multiples of ``grain`` long (but the last), about four per thread so that a
    busy core does not hold the others up. ``task`` must write only its own range and must not
    depend on how the range was cut (the stress kernels key every draw by the path).
    """
    global _POOL
    threads = pool_threads()
    n_grains = (n + grain - 1) // grain
    n_tasks = min(n_grains, 4 * threads)
    if threads == 1 or n_tasks <= 1:
        task(0, n)
        return
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dpv-kernel")
    per_task = (n_grains + n_tasks - 1) // n_tasks * grain
    starts = range(0, n, per_task)
    for _ in _POOL.map(lambda begin: task(begin, min(n, begin + per_task)), starts):
        pass


def _trailing_zeros_python(word: Any) -> int:
    """Return the number of trailing zero bits of a non-zero integer (Python fallback)."""
    value = int(word)
    return (value & -value).bit_length() - 1


if not DISABLE_JIT:
    import numba

    _configure_cache()
    _configure_vector_width()
    _OPTIONS: dict[str, Any] = {
        "cache": True,
        "fastmath": set(FASTMATH_FLAGS),
        "nogil": True,
        "error_model": ERROR_MODEL,
    }
    prange: Any = numba.prange

    def jit(func: F) -> F:
        """Compile ``func`` as a serial nopython kernel with the project's options."""
        compiled = numba.njit(**_OPTIONS)(func)
        return cast(F, compiled)

    def jit_parallel(func: F) -> F:
        """Compile ``func`` as a parallel nopython kernel (``prange`` loops) with the options."""
        compiled = numba.njit(**_OPTIONS, parallel=True)(func)
        return cast(F, compiled)

    def num_threads() -> int:
        """Return the number of threads numba will use (``NUMBA_NUM_THREADS``)."""
        return int(numba.get_num_threads())

    if numba.config.DISABLE_JIT:  # type: ignore[attr-defined]
        trailing_zeros: Any = _trailing_zeros_python
    else:
        from numba.cpython.unsafe.numbers import trailing_zeros

else:  # pragma: no cover - exercised with DPV_DISABLE_JIT=1
    prange = range

    def jit(func: F) -> F:
        """Return ``func`` unchanged (JIT disabled)."""
        return func

    def jit_parallel(func: F) -> F:
        """Return ``func`` unchanged (JIT disabled)."""
        return func

    def num_threads() -> int:
        """Return 1: without numba everything runs on one thread."""
        return 1

    trailing_zeros = _trailing_zeros_python


__all__ = [
    "DISABLE_JIT",
    "FASTMATH_FLAGS",
    "cache_dir",
    "jit",
    "jit_parallel",
    "num_threads",
    "pool_threads",
    "prange",
    "run_parallel",
    "trailing_zeros",
]
