"""The one place that owns every numba option.

Nothing else in the project writes ``fastmath=``, ``cache=``, ``parallel=`` or imports
``numba.njit`` directly: kernels are decorated with :func:`jit` (serial) or :func:`jit_parallel`
and loop with :data:`prange`; helpers that only other kernels call, with :func:`jit_inner`.

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
* **Wrappers.** :func:`jit_inner` kernels have no CPython or C wrapper (numba compiles both
  for every dispatcher, although only a call from Python needs them): 4 s less of a 27 s cold
  compile of the stress kernel. Called from Python, such a kernel runs a twin compiled with
  the wrappers (:func:`python_callable`), so tests and notebooks call it as any other.
* **Supported numba.** :data:`SUPPORTED_NUMBA` (also ``pyproject.toml``'s requirement): two
  things here are numba's internals, not its public API, the dispatcher class of a
  :func:`jit_inner` kernel (:func:`_without_python_wrappers`) and the ``cttz`` intrinsic
  behind :func:`trailing_zeros`; ``tests/test_valuation/test_numba_support.py`` compiles and
  runs every kernel on the installed numba and fails, naming its version, when either stops
  working. Widen the range only after that test passes on the new version.
* **Bit tricks.** :func:`trailing_zeros` (numba's ``cttz`` intrinsic, a plain-Python fallback
  when the JIT is off) walks the set bits of a mask, for kernels that gather rare lanes.
* **Lazy import.** This module does not import numba: the first :func:`jit` or
  :func:`jit_parallel` decoration (that is, importing a kernel module), :data:`prange` or
  :func:`num_threads` does. :func:`cache_dir`, :func:`pool_threads` and :func:`run_parallel`
  work without it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar, cast

from valuation._version import __version__

F = TypeVar("F", bound=Callable[..., Any])

# The numba versions the kernels are tested on (pyproject.toml requires the same range).
SUPPORTED_NUMBA = ">=0.68,<0.69"
FASTMATH_FLAGS: frozenset[str] = frozenset({"nsz", "arcp"})
ERROR_MODEL = "numpy"
DISABLE_JIT: bool = os.environ.get("DPV_DISABLE_JIT", "") not in ("", "0")
# Every kernel is compiled with these (numba.njit keywords; ``parallel=True`` is added by
# jit_parallel).
_OPTIONS: dict[str, Any] = {
    "cache": True,
    "fastmath": set(FASTMATH_FLAGS),
    "nogil": True,
    "error_model": ERROR_MODEL,
}

# ``from valuation.kernels._jit import prange, trailing_zeros`` is resolved by __getattr__ (it
# imports numba).
prange: Any
trailing_zeros: Any


@functools.cache
def numba_version() -> str:
    """Return the installed numba's version without importing numba.

    Returns
    -------
    str
        The version in numba's distribution metadata (``numba.__version__`` when the metadata
        is missing, which imports numba).
    """
    from importlib import metadata

    try:
        return metadata.version("numba")
    except metadata.PackageNotFoundError:  # pragma: no cover - numba without metadata
        return str(_numba().__version__)


def cache_dir() -> Path:
    """Return the versioned numba cache directory for this engine.

    Returns
    -------
    pathlib.Path
        ``$DPV_CACHE_DIR/numba-<dpv>-<numba>-py<major><minor>-<sources>`` (default base
        ``~/.cache/dpv``), ``<sources>`` a digest of the kernel modules
        (:func:`kernel_sources_digest`). Computed without importing numba.

    Notes
    -----
    numba checks a cached kernel against the time stamp of its own source file only, not of the
    modules it calls: after an edit of ``rng.py`` alone, the stress package's cached kernels would
    still run the old random stream. Keying the directory by every kernel source closes that
    hole (an installed release never changes its sources; a working copy does).
    """
    base = Path(os.environ.get("DPV_CACHE_DIR", Path.home() / ".cache" / "dpv"))
    tag = (
        f"numba-{__version__}-{numba_version()}-py{sys.version_info[0]}{sys.version_info[1]}"
        f"-{kernel_sources_digest()}"
    )
    return base / tag


@functools.cache
def kernel_sources_digest() -> str:
    """Return 12 hex digits of the SHA-256 of every ``.py`` under ``valuation/kernels/``.

    Every numba kernel of the project lives in that folder or its packages (such as
    :mod:`valuation.kernels.stress`); each file counts by its path relative to the folder and
    its bytes.
    """
    folder = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        name = path.relative_to(folder).as_posix()
        digest.update(name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


_NUMBA_LOCK = threading.Lock()
_CONFIGURED = False


def _numba() -> ModuleType:
    """Import numba, configure it (once) and return the module.

    Points its cache at :func:`cache_dir` and sets the vector width
    (:func:`_configure_vector_width`) before the first kernel is decorated.
    """
    global _CONFIGURED
    import numba

    if not _CONFIGURED:
        with _NUMBA_LOCK:
            if not _CONFIGURED:
                if not os.environ.get("NUMBA_CACHE_DIR"):
                    path = cache_dir()
                    path.mkdir(parents=True, exist_ok=True)
                    numba.config.CACHE_DIR = str(path)  # type: ignore[attr-defined]
                _configure_vector_width()
                _CONFIGURED = True
    return numba


def _configure_vector_width() -> None:
    """Let LLVM use 512-bit vectors where the CPU has AVX-512 (``DPV_VECTOR_WIDTH=256``: don't).

    LLVM's tuning for Intel cores with AVX-512 prefers 256-bit vectors (wide vectors once cost
    clock speed on mixed code). The kernels are long runs of vector arithmetic that gain from the
    full width: Philox 1.8× and the exponential 1.4× faster here. No bit changes: without
    ``reassoc`` and ``contract`` every lane computes the same IEEE operations at any width.
    ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES`` set by the user win; so does any numba
    compilation that ran in the process before the first dpv kernel was decorated. The setting
    is numba's own (``numba.config.CPU_FEATURES``), so it also applies to any other numba code
    the process compiles afterwards; set ``DPV_VECTOR_WIDTH=256`` to leave numba untouched.
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


def _default_threads() -> int:
    """Numba's default thread count, computed as numba computes it (without importing it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - no sched_getaffinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def pool_threads() -> int:
    """Return the number of threads :func:`run_parallel` uses (``NUMBA_NUM_THREADS``).

    The value numba uses: its configuration when numba is loaded, otherwise the same rule
    read from the environment (``NUMBA_NUM_THREADS``, else the CPUs this process may run on).
    """
    if DISABLE_JIT:
        return 1
    numba = sys.modules.get("numba")
    if numba is not None:
        return max(1, int(numba.config.NUMBA_NUM_THREADS))
    value = os.environ.get("NUMBA_NUM_THREADS", "")
    return max(1, int(value)) if value else _default_threads()


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


def _plain(func: F) -> F:
    """Return ``func`` run as plain Python, with NumPy's overflow warnings off.

    Compiled, integer arithmetic wraps around silently (the kernels rely on it, for instance
    ``mask & (mask − 1)`` at ``mask = 0`` in a branch-free loop) and a float overflow gives
    ``inf`` (``error_model="numpy"``); NumPy's scalars would warn about both.
    """

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        import numpy as np

        with np.errstate(over="ignore"):
            return func(*args, **kwargs)

    return cast(F, run)


def jit(func: F) -> F:
    """Compile ``func`` as a serial nopython kernel with the project's options.

    With ``DPV_DISABLE_JIT=1``, return ``func`` as plain Python (:func:`_plain`).
    """
    if DISABLE_JIT:
        return _plain(func)
    compiled = _numba().njit(**_OPTIONS)(func)
    return cast(F, compiled)


_INNER_OPTIONS: dict[str, Any] = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


def jit_inner(func: F) -> F:
    """Compile ``func`` as a kernel that other kernels call: :func:`jit` without wrappers.

    numba gives every dispatcher a CPython wrapper (the unboxing of each argument) and a C
    wrapper, compiled and optimised with it although only a call from Python uses them; leaving
    them out of the helpers of the stress kernel takes about 4 of its 27 s of cold compile (and
    0.5–1 s of the valuation kernels' 16 s). A call from Python (a test, a notebook) runs
    :func:`python_callable`'s twin instead: the dispatcher's class is :class:`_InnerDispatcher`.
    With ``DPV_DISABLE_JIT=1``, plain Python.
    """
    if DISABLE_JIT:
        return _plain(func)
    numba = _numba()
    compiled = numba.njit(**_OPTIONS, **_INNER_OPTIONS)(func)
    if not numba.config.DISABLE_JIT:
        _without_python_wrappers(compiled)
    return cast(F, compiled)


def _without_python_wrappers(dispatcher: Any) -> None:
    """Make a wrapper-less dispatcher's Python calls run its twin (relies on numba internals).

    With :func:`trailing_zeros`, the one place the kernels depend on numba's internals: numba
    offers no public hook for what a dispatcher does when Python calls it, so the
    dispatcher (numba's ``CPUDispatcher``, exactly) becomes an instance of a subclass that
    overrides ``__call__`` only (:class:`_InnerDispatcher`): a kernel calling it still sees a
    ``CPUDispatcher``. Raises ``RuntimeError`` naming numba's version when that class is not
    what numba returned, rather than leaving a kernel that would crash when called from Python.
    """
    from numba.core.registry import CPUDispatcher

    if type(dispatcher) is not CPUDispatcher:
        raise RuntimeError(
            f"numba {numba_version()}: njit returned {type(dispatcher).__qualname__}, not "
            f"numba.core.registry.CPUDispatcher; valuation.kernels._jit.jit_inner supports "
            f"numba {SUPPORTED_NUMBA}"
        )
    dispatcher.__class__ = _inner_dispatcher_class()


@functools.cache
def _inner_dispatcher_class() -> type:
    """Return :class:`_InnerDispatcher` (defined on first use: numba is imported lazily)."""
    global _InnerDispatcher
    from numba.core.registry import CPUDispatcher

    class _InnerDispatcher(CPUDispatcher):
        """A :func:`jit_inner` kernel: called from Python, it runs its wrapped twin."""

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return python_callable(self)(*args, **kwargs)

    _InnerDispatcher.__module__ = __name__
    _InnerDispatcher.__qualname__ = "_InnerDispatcher"
    return _InnerDispatcher


_InnerDispatcher: type


def python_callable(func: F) -> F:
    """Return ``func`` callable from Python: a :func:`jit_inner` kernel's twin, else ``func``.

    The twin is a dispatcher of the same Python function compiled with :func:`jit`'s options
    and the wrappers, once per process and not cached on disk (numba's cache index does not
    tell the two compilations apart). Kernels keep calling the kernel itself.
    """
    if not getattr(func, "targetoptions", {}).get("no_cpython_wrapper", False):
        return func
    return cast(F, _python_twin(func))


@functools.cache
def _python_twin(func: Any) -> Any:
    return _numba().njit(**_compiler_options())(func.py_func)


def _compiler_options() -> dict[str, Any]:
    """:data:`_OPTIONS` without ``cache`` (the dispatcher's keyword, not the compiler's)."""
    return {key: value for key, value in _OPTIONS.items() if key != "cache"}


def jit_parallel(func: F) -> F:
    """Compile ``func`` as a parallel nopython kernel (``prange`` loops) with the options.

    With ``DPV_DISABLE_JIT=1``, return ``func`` as plain Python (:func:`_plain`).
    """
    if DISABLE_JIT:
        return _plain(func)
    compiled = _numba().njit(**_OPTIONS, parallel=True)(func)
    return cast(F, compiled)


def num_threads() -> int:
    """Return the number of threads numba will use (``NUMBA_NUM_THREADS``); 1 without JIT."""
    if DISABLE_JIT:
        return 1
    return int(_numba().get_num_threads())


def __getattr__(name: str) -> Any:
    """Resolve :data:`prange` and :data:`trailing_zeros` on first use (they import numba).

    ``prange`` is ``numba.prange`` (``range`` without JIT); ``trailing_zeros`` numba's ``cttz``
    intrinsic (a plain-Python fallback without JIT or with ``NUMBA_DISABLE_JIT=1``).
    """
    if name == "prange":
        return range if DISABLE_JIT else _numba().prange
    if name == "trailing_zeros":
        if DISABLE_JIT or _numba().config.DISABLE_JIT:
            return _trailing_zeros_python
        from numba.cpython.unsafe.numbers import trailing_zeros

        return trailing_zeros
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    trailing_zeros = _trailing_zeros_python


__all__ = [
    "DISABLE_JIT",
    "ERROR_MODEL",
    "FASTMATH_FLAGS",
    "SUPPORTED_NUMBA",
    "cache_dir",
    "kernel_sources_digest",
    "jit",
    "jit_inner",
    "jit_parallel",
    "num_threads",
    "numba_version",
    "pool_threads",
    "prange",
    "python_callable",
    "run_parallel",
    "trailing_zeros",
]
