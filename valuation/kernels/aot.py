"""The stress kernel compiled ahead of time: a numba-free first call of ``valuation.stress``.

The first call of a JIT kernel in a fresh process costs more than the work itself: numba has to
be imported (0.3–0.5 s) and, even with every kernel in its on-disk cache, it loads its typing
and target registries on the first cached load (about 0.55 s more, most of it importing
``scipy.linalg`` for its BLAS check). :func:`build` (run by ``dpv warmup``) therefore compiles
:func:`valuation.kernels.stress.stress_paths` once more, with ``numba.pycc``, into a plain
CPython extension module, and :func:`stress_kernel` hands it to :mod:`valuation.risk.api`:
a process that finds the module loads it with ``importlib`` and never imports numba.

What is compiled
----------------
The very Python function the JIT compiles (``stress_paths.py_func``) with the signatures the
JIT dispatcher holds after :func:`valuation.kernels.stress.warmup` (so a new kernel argument is
picked up by the next build without touching this module), under the compiler flags of
:func:`valuation.kernels._jit.compile_flags` — the same fast-math set, error model and
``nogil`` as every JIT kernel (``numba.pycc`` alone would compile the exported function with
its defaults: no fast-math, Python's error model, the GIL held) — for the host CPU (its name
and features, as the JIT). The functions it calls are the JIT's own compilations, linked in.
The results are bit-identical to the JIT's (the tests compare every output byte for byte).

The exported wrapper releases the GIL around the kernel (``nogil``), so
:func:`valuation.kernels._jit.run_parallel` runs it on all threads exactly like the JIT
kernel, at the same speed: when the module is present it is always used (no size threshold).

Where it lives and when it is used
----------------------------------
``<cache_dir()>/aot/dpv_stress_<key>.<ext>`` beside ``dpv_stress_<key>.json`` (written last:
the key, the SHA-256 of the extension file, the argument types of each signature, how it was
built). The key (:func:`build_key`) hashes the source of every ``valuation/kernels/*.py``, the
numba, llvmlite, NumPy and Python versions, the platform and the CPU (model and feature flags),
so an edited kernel, an upgrade or another machine never loads a stale module: it simply finds
no file. The loader (:func:`load`) uses the module only if the description's key is this
process's key, the file's hash matches and the import succeeds; anything else (missing,
truncated, corrupt, wrong key) is logged at debug level and the JIT kernel is used, never an
error. Each call checks its arguments against the exported signatures (dtype, dimensions,
contiguity, writeability; a compiled wrapper would not) and hands anything else to the JIT.
``DPV_DISABLE_JIT=1``, ``NUMBA_DISABLE_JIT=1`` and ``DPV_DISABLE_AOT=1`` turn the module off.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import platform
import sys
import sysconfig
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from valuation._version import __version__
from valuation.hashing import sha256_file
from valuation.kernels import _jit

log = logging.getLogger(__name__)

FORMAT = 1
MODULE_PREFIX = "dpv_stress_"
KERNEL = "stress_paths"
_KERNELS_DIR = Path(__file__).resolve().parent
# Environment variables numba reads that change the code it generates for the host.
_CODEGEN_ENV = (
    "NUMBA_CPU_NAME",
    "NUMBA_CPU_FEATURES",
    "NUMBA_OPT",
    "NUMBA_BOUNDSCHECK",
    "DPV_VECTOR_WIDTH",
)
# /proc/cpuinfo fields that identify the CPU's model and features (x86 first, then Arm).
_CPU_FIELDS = ("vendor_id", "cpu family", "model", "model name", "flags")
_ARM_CPU_FIELDS = ("CPU implementer", "CPU architecture", "CPU variant", "CPU part", "Features")


def aot_disabled() -> bool:
    """Return whether the ahead-of-time kernel is switched off in this process.

    ``DPV_DISABLE_JIT=1`` and ``NUMBA_DISABLE_JIT=1`` (every kernel runs as plain Python) and
    ``DPV_DISABLE_AOT=1`` (the JIT kernel is used) switch it off.
    """
    return _jit.DISABLE_JIT or any(
        os.environ.get(name, "") not in ("", "0")
        for name in ("NUMBA_DISABLE_JIT", "DPV_DISABLE_AOT")
    )


def aot_dir() -> Path:
    """Return the folder of the ahead-of-time modules: ``<cache_dir()>/aot``."""
    return _jit.cache_dir() / "aot"


def kernel_sources() -> list[Path]:
    """Return the source files the key hashes: every ``.py`` under ``valuation/kernels/``."""
    return sorted(_KERNELS_DIR.rglob("*.py"))


def cpu_fingerprint() -> str:
    """Return what identifies the CPU's code generation target, without numba or llvmlite.

    On Linux, the vendor, family, model, model name and feature flags of the first processor
    in ``/proc/cpuinfo`` (what LLVM's host CPU name and features are derived from; on Arm the
    implementer, architecture, variant, part and features); elsewhere llvmlite's host CPU name
    and features (importing llvmlite, not numba).
    """
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() in _CPU_FIELDS + _ARM_CPU_FIELDS:
            fields[name.strip()] = " ".join(value.split())
    if fields.get("flags") or fields.get("Features"):
        return json.dumps(fields, sort_keys=True)
    import llvmlite.binding as ll  # pragma: no cover - not Linux

    return f"{ll.get_host_cpu_name()} {ll.get_host_cpu_features().flatten()}"  # pragma: no cover


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:  # pragma: no cover - a source checkout
        return "unknown"


@functools.cache
def _static_digest() -> bytes:
    """SHA-256 of what cannot change while a process runs: versions, platform, CPU, sources."""
    digest = hashlib.sha256()
    parts = [
        f"format={FORMAT}",
        f"dpv={__version__}",
        f"numba={_jit.numba_version()}",
        f"llvmlite={_version('llvmlite')}",
        f"numpy={np.__version__}",
        f"python={sys.version}",
        f"implementation={sys.implementation.cache_tag}",
        f"ext={sysconfig.get_config_var('EXT_SUFFIX')}",
        f"machine={platform.machine()}",
        f"cpu={cpu_fingerprint()}",
    ]
    for part in parts:
        digest.update(part.encode("utf-8") + b"\0")
    for path in kernel_sources():
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.digest()


def build_key() -> str:
    """Return the key an ahead-of-time module must carry to be loaded in this process.

    Returns
    -------
    str
        SHA-256 (hex) of: the format of this module, the dpv version, the numba, llvmlite,
        NumPy and Python versions, the extension suffix (ABI and platform), the machine,
        :func:`cpu_fingerprint`, the name and bytes of every kernel source
        (:func:`kernel_sources`; read once per process, like the JIT's kernels) and numba's
        code-generation environment variables (``NUMBA_CPU_NAME``, ``NUMBA_CPU_FEATURES``,
        ``NUMBA_OPT``, ``NUMBA_BOUNDSCHECK``) and ``DPV_VECTOR_WIDTH``.
    """
    digest = hashlib.sha256(_static_digest())
    for name in _CODEGEN_ENV:
        digest.update(f"{name}={os.environ.get(name, '')}".encode() + b"\0")
    return digest.hexdigest()


def module_name(key: str) -> str:
    """Return the extension module's name for ``key`` (also its file's stem)."""
    return MODULE_PREFIX + key[:32]


def _ext_suffix() -> str:
    return str(sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def module_files(key: str, folder: Path | None = None) -> tuple[Path, Path]:
    """Return the paths of the extension module and of its JSON description for ``key``."""
    folder = aot_dir() if folder is None else folder
    name = module_name(key)
    return folder / (name + _ext_suffix()), folder / (name + ".json")


# ---------------------------------------------------------------------------------------------
# Argument checks (numba-free): what each exported signature accepts.


def _arg_spec(numba_type: Any) -> dict[str, Any]:
    """Describe a numba argument type as plain JSON (arrays and scalar numbers only)."""
    from numba.core import types

    if isinstance(numba_type, types.Array):
        return {
            "array": str(np.dtype(str(numba_type.dtype))),
            "ndim": int(numba_type.ndim),
            "layout": str(numba_type.layout),
            "mutable": bool(numba_type.mutable),
            "aligned": bool(numba_type.aligned),
        }
    if isinstance(numba_type, types.Boolean):
        return {"scalar": "bool"}
    if isinstance(numba_type, types.Integer | types.Float):
        return {"scalar": str(np.dtype(str(numba_type)))}
    raise TypeError(
        f"the ahead-of-time stress kernel supports array and number arguments, not {numba_type}"
    )


def _check_for(spec: dict[str, Any]) -> Callable[[Any], bool]:
    """Return a predicate: whether a value has exactly the type numba would give ``spec``."""
    if "array" in spec:
        dtype = np.dtype(spec["array"])
        ndim = int(spec["ndim"])
        layout = spec["layout"]
        mutable = bool(spec["mutable"])
        aligned = bool(spec["aligned"])

        def check_array(value: Any) -> bool:
            if type(value) is not np.ndarray or value.dtype != dtype or value.ndim != ndim:
                return False
            flags = value.flags
            if layout == "C" and not flags.c_contiguous:
                return False
            if layout == "F" and not flags.f_contiguous:
                return False
            return (flags.writeable or not mutable) and (flags.aligned or not aligned)

        return check_array
    name = spec["scalar"]
    if name == "bool":
        return lambda value: type(value) is bool or type(value) is np.bool_
    scalar_type = np.dtype(name).type
    python_type: type | None = {"int64": int, "float64": float}.get(name)

    def check_scalar(value: Any) -> bool:
        kind = type(value)
        return kind is scalar_type or (python_type is not None and kind is python_type)

    return check_scalar


@dataclass(frozen=True)
class _Export:
    function: Callable[..., Any]
    checks: tuple[Callable[[Any], bool], ...]

    def accepts(self, args: Sequence[Any]) -> bool:
        return len(args) == len(self.checks) and all(
            check(arg) for check, arg in zip(self.checks, args, strict=True)
        )


def jit_stress_paths() -> Callable[..., None]:
    """Return the JIT kernel :func:`valuation.kernels.stress.stress_paths` (imports numba)."""
    from valuation.kernels.stress import stress_paths

    return stress_paths


class AotStressKernel:
    """The ahead-of-time ``stress_paths``: call it with the JIT kernel's arguments.

    Attributes
    ----------
    path
        The extension module's file.
    key
        Its :func:`build_key`.
    releases_gil
        Whether the compiled wrapper releases the GIL during the kernel (it does when built by
        :func:`build`), so that :func:`~valuation.kernels._jit.run_parallel` runs it on all
        threads.
    """

    def __init__(self, exports: tuple[_Export, ...], path: Path, key: str, releases_gil: bool):
        self._exports = exports
        self.path = path
        self.key = key
        self.releases_gil = releases_gil

    def __call__(self, *args: Any) -> None:
        """Run the kernel (the first exported signature that accepts ``args``, else the JIT)."""
        for export in self._exports:
            if export.accepts(args):
                export.function(*args)
                return
        log.debug("arguments match no ahead-of-time signature; using the JIT stress kernel")
        jit_stress_paths()(*args)

    def accepts(self, *args: Any) -> bool:
        """Return whether one of the compiled signatures takes ``args`` as they are."""
        return any(export.accepts(args) for export in self._exports)

    def __repr__(self) -> str:
        return f"AotStressKernel({str(self.path)!r})"


# ---------------------------------------------------------------------------------------------
# Loading.

_LOAD_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], AotStressKernel | None] = {}
_LAST_REASON: dict[str, str] = {}


def _load(key: str, folder: Path) -> AotStressKernel:
    """Load and check the module of ``key`` in ``folder``; raise with the reason otherwise."""
    so_path, meta_path = module_files(key, folder)
    if not meta_path.is_file() or not so_path.is_file():
        raise FileNotFoundError(f"no ahead-of-time stress kernel {so_path}")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT or meta.get("key") != key:
        raise ValueError(f"{meta_path}: built for another key or format")
    if meta.get("sha256") != sha256_file(so_path):
        raise ValueError(f"{so_path}: its SHA-256 is not the one recorded when it was built")
    name = module_name(key)
    spec = importlib.util.spec_from_file_location(name, so_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {so_path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exports = tuple(
        _Export(getattr(module, entry["symbol"]), tuple(_check_for(a) for a in entry["args"]))
        for entry in meta["exports"]
    )
    if not exports:
        raise ValueError(f"{meta_path}: no exported signature")
    return AotStressKernel(exports, so_path, key, bool(meta.get("releases_gil")))


def load(folder: Path | None = None) -> AotStressKernel | None:
    """Return the ahead-of-time stress kernel of this process's key, or ``None``.

    Never raises: a missing, stale, truncated or corrupt module means ``None`` (the reason is
    logged at debug level and kept for :func:`last_reason`). The answer is kept per folder and
    key for the life of the process.

    Parameters
    ----------
    folder
        Where to look (default :func:`aot_dir`).
    """
    if aot_disabled():
        _LAST_REASON["reason"] = "switched off by the environment"
        return None
    try:
        folder = aot_dir() if folder is None else folder
        key = build_key()
    except Exception as exc:  # pragma: no cover - unreadable sources or cache location
        _LAST_REASON["reason"] = f"no key: {exc}"
        return None
    with _LOAD_LOCK:
        cache_key = (str(folder), key)
        if cache_key not in _LOADED:
            try:
                _LOADED[cache_key] = _load(key, folder)
                _LAST_REASON["reason"] = f"loaded {_LOADED[cache_key]}"
            except Exception as exc:
                log.debug("ahead-of-time stress kernel not used: %s", exc)
                _LAST_REASON["reason"] = str(exc)
                _LOADED[cache_key] = None
        return _LOADED[cache_key]


def last_reason() -> str:
    """Return why the last :func:`load` did or did not give a module (for diagnostics)."""
    return _LAST_REASON.get("reason", "not looked for")


def forget() -> None:
    """Forget what :func:`load` found (tests; after :func:`build` in the same process)."""
    with _LOAD_LOCK:
        _LOADED.clear()
        _LAST_REASON.clear()


def stress_kernel() -> Callable[..., None]:
    """Return the stress kernel to call: the ahead-of-time one when present, else the JIT's.

    The ahead-of-time module is used whenever :func:`load` finds it, whether or not numba is
    already imported and whatever the size of the job: it releases the GIL like the JIT kernel
    (so :func:`~valuation.kernels._jit.run_parallel` splits it over the threads the same way),
    runs at the same speed (both are compiled by the same LLVM for the same CPU) and gives the
    same bits. Only the JIT kernel imports numba.

    Returns
    -------
    callable
        Called with the arguments of :func:`valuation.kernels.stress.stress_paths`.
    """
    kernel = load()
    if kernel is not None and kernel.releases_gil:
        return kernel
    return jit_stress_paths()


# ---------------------------------------------------------------------------------------------
# Building (imports numba).


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build` did.

    Attributes
    ----------
    path
        The extension module.
    key
        Its key.
    seconds
        Wall-clock time of the ahead-of-time compilation and link (0 when an up-to-date module
        was already there).
    built
        False when the module for this key was already present and loadable.
    signatures
        The exported signatures, as numba prints them.
    warmup_seconds
        Wall-clock time of :func:`valuation.kernels.stress.warmup` before it (loading, or on a
        cold cache compiling, the JIT kernels; ``dpv warmup`` has already done it).
    """

    path: Path
    key: str
    seconds: float
    built: bool
    signatures: tuple[str, ...]
    warmup_seconds: float = 0.0


def _host_target() -> tuple[str, str]:
    """Return the CPU name and feature string the JIT compiles for (``NUMBA_CPU_*`` first)."""
    import llvmlite.binding as ll
    from numba.core import config

    name = config.CPU_NAME or ll.get_host_cpu_name()  # type: ignore[attr-defined]
    features = config.CPU_FEATURES  # type: ignore[attr-defined]
    if features is None:
        from numba.core.codegen import get_host_cpu_features

        features = get_host_cpu_features()
    return str(name), str(features)


def _compile(py_func: Callable[..., Any], signatures: Sequence[Any], name: str, out: Path) -> None:
    """Compile ``py_func`` for ``signatures`` into the extension module ``out/<name><ext>``.

    ``numba.pycc.CC`` builds the module; two of its defaults are replaced for the duration of
    the build (under numba's compiler lock, so no other compilation sees them): the flags of
    the exported function (pycc's are numba's defaults) by :func:`_jit.compile_flags`, and the
    AOT code generator's CPU features (pycc's are the named CPU's, which a virtual machine may
    not all offer) by the host's, as the JIT uses.
    """
    from numba.core import codegen
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.errors import NumbaPendingDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        import numba.pycc.compiler as pycc_compiler
        from numba.pycc import CC

    cpu_name, cpu_features = _host_target()
    flags = _jit.compile_flags()

    def make_flags() -> Any:
        return flags.copy()

    cc = CC(name, source_module=__name__)
    cc.output_dir = str(out)
    cc.target_cpu = cpu_name
    cc.verbose = False
    for index, signature in enumerate(signatures):
        cc.export(f"{KERNEL}_{index}", signature)(py_func)
    with global_compiler_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        saved_flags = pycc_compiler.Flags
        saved_features = codegen.AOTCPUCodegen._customize_tm_features
        pycc_compiler.Flags = make_flags  # type: ignore[assignment,misc]
        codegen.AOTCPUCodegen._customize_tm_features = (  # type: ignore[method-assign]
            lambda self: cpu_features
        )
        try:
            cc.compile()
        finally:
            pycc_compiler.Flags = saved_flags  # type: ignore[misc]
            codegen.AOTCPUCodegen._customize_tm_features = (  # type: ignore[method-assign]
                saved_features
            )


def _remove_stale(folder: Path, keep: str, fingerprint: str) -> None:
    """Remove the modules in ``folder`` built on this kind of CPU for another key.

    A module built for another CPU may be another machine's that shares the cache directory: it
    stays. So do files being written (no description yet) by another build.
    """
    for meta_path in folder.glob(MODULE_PREFIX + "*.json"):
        if meta_path.stem == keep:
            continue
        try:
            other = json.loads(meta_path.read_text(encoding="utf-8")).get("cpu_fingerprint")
        except (OSError, ValueError):
            other = fingerprint  # unreadable: nobody can load it
        if other != fingerprint:
            continue
        meta_path.unlink(missing_ok=True)
        (folder / (meta_path.stem + _ext_suffix())).unlink(missing_ok=True)


def build(folder: Path | None = None, *, force: bool = False) -> BuildReport:
    """Compile the stress kernel ahead of time into ``folder`` (``dpv warmup`` calls this).

    Runs :func:`valuation.kernels.stress.warmup` first, so that the signatures are the ones
    the JIT dispatcher compiled (``stress_paths.nopython_signatures``), then compiles
    ``stress_paths.py_func`` with ``numba.pycc`` for each (see :func:`_compile`), writes the
    module and its JSON description atomically and removes the modules this kind of CPU had for
    other keys.

    Parameters
    ----------
    folder
        Where to put it (default :func:`aot_dir`, inside the versioned cache directory).
    force
        Rebuild even if a loadable module of the current key is there.

    Returns
    -------
    BuildReport
        The module's path and key, the build time and the signatures.

    Raises
    ------
    RuntimeError
        The JIT is disabled (nothing to compile with).
    TypeError
        The kernel takes an argument that is neither an array nor a number.
    """
    if _jit.DISABLE_JIT:
        raise RuntimeError("DPV_DISABLE_JIT=1: the ahead-of-time kernel needs numba")
    folder = aot_dir() if folder is None else folder
    key = build_key()
    so_path, meta_path = module_files(key, folder)
    if not force and meta_path.is_file():
        try:
            existing = _load(key, folder)
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            names = tuple(str(entry["signature"]) for entry in meta["exports"])
            return BuildReport(existing.path, key, 0.0, False, names)
        except Exception as exc:
            log.debug("rebuilding the ahead-of-time stress kernel: %s", exc)

    start = time.perf_counter()
    from valuation.kernels import stress

    stress.warmup()
    warmup_seconds = time.perf_counter() - start
    start = time.perf_counter()
    dispatcher: Any = stress.stress_paths
    signatures = list(dispatcher.nopython_signatures)
    options = dispatcher.targetoptions
    if options.get("fastmath") != _jit._OPTIONS["fastmath"] or (
        options.get("error_model") != _jit.ERROR_MODEL
    ):
        raise RuntimeError(f"{KERNEL} was not compiled by valuation.kernels._jit.jit")
    specs = [[_arg_spec(arg) for arg in signature.args] for signature in signatures]

    folder.mkdir(parents=True, exist_ok=True)
    name = module_name(key)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        _compile(dispatcher.py_func, signatures, name, Path(tmp))
        built = Path(tmp) / (name + _ext_suffix())
        flags = _jit.compile_flags()
        cpu_name, cpu_features = _host_target()
        meta = {
            "format": FORMAT,
            "key": key,
            "module": name,
            "sha256": sha256_file(built),
            "releases_gil": bool(flags.release_gil),
            "cpu_fingerprint": cpu_fingerprint(),
            "exports": [
                {"symbol": f"{KERNEL}_{index}", "signature": str(signature), "args": spec}
                for index, (signature, spec) in enumerate(zip(signatures, specs, strict=True))
            ],
            "built_with": {
                "dpv": __version__,
                "numba": _jit.numba_version(),
                "python": sys.version.split()[0],
                "cpu_name": cpu_name,
                "cpu_features": cpu_features,
                "fastmath": sorted(_jit.FASTMATH_FLAGS),
                "error_model": _jit.ERROR_MODEL,
            },
        }
        meta_tmp = Path(tmp) / "meta.json"
        meta_tmp.write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
        # The description is the commit marker: written after the module it describes.
        os.replace(built, so_path)
        os.replace(meta_tmp, meta_path)
    _remove_stale(folder, name, meta["cpu_fingerprint"])
    forget()
    return BuildReport(
        so_path,
        key,
        time.perf_counter() - start,
        True,
        tuple(str(signature) for signature in signatures),
        warmup_seconds,
    )


__all__ = [
    "AotStressKernel",
    "BuildReport",
    "aot_dir",
    "aot_disabled",
    "build",
    "build_key",
    "cpu_fingerprint",
    "forget",
    "jit_stress_paths",
    "kernel_sources",
    "last_reason",
    "load",
    "module_files",
    "module_name",
    "stress_kernel",
]
