"""The numba-cuda internals the GPU kernels lean on: each one here, why, and what if it goes.

Everything else in :mod:`valuation.kernels.cuda` uses numba-cuda's public API (``cuda.jit``
with its documented ``lto`` and ``max_registers`` options, ``device_array``, ``to_device``,
``Dispatcher.inspect_asm``). Where no public API does what the bit identity with the CPU
kernel needs, this module does it, and nothing outside it names a private module, a private
attribute or a monkeypatch of numba-cuda. Each internal was checked on **numba-cuda 0.30.4**
(the version ``pyproject.toml``'s floor, ``numba-cuda>=0.30``, installs here and on the GPU
machine the identity was measured on). Each is looked up by :func:`require`, which raises
:class:`MissingInternalError` (naming the internal and the numba-cuda version) where a
numba-cuda lacks it: the kernels then refuse to compile rather than run with other bits, and
:func:`~valuation.kernels.cuda.select.cuda_status` counts the GPU as unusable (``--device
auto`` runs on the CPU, ``--device cuda`` is an input error naming the internal).

The internals
-------------
``numba.cuda.cudadrv.nvvm.compile_ir(llvmir, **options)``
    The function numba-cuda's code library calls (as a module attribute, at each compilation)
    to have NVVM compile a module's IR to PTX. **Why:** NVVM contracts ``a·b + c`` into fused
    multiply-adds unless told ``-fma=0``, and no public option says so: ``cuda.jit`` passes
    NVVM only ``fastmath``, whose ``True`` sets ``fma=1`` with flush-to-zero and approximate
    division and square root, and whose ``False`` leaves NVVM's default (``fma=1``).
    :func:`forbid_contraction` wraps it so that a compilation unit holding a function of this
    package gets ``fma=0`` (other CUDA code in the process is compiled as before). **If
    absent** (or if NVVM refuses the option): :class:`MissingInternalError` at the import of
    :mod:`valuation.kernels.cuda.paths` (or at the kernel's compilation).
``numba.cuda.cudadrv.driver._Linker.add_ptx(self, ptx, name)``
    The method through which numba-cuda hands each PTX module to the linker (``ptxas``).
    **Why:** ``ptxas`` may fuse a ``mul.f64`` and an ``add.f64`` written without a rounding
    mode (its ``--fmad`` default), and numba-cuda exposes neither ``ptxas`` options nor a hook
    on the PTX before linking. The wrapper of :func:`forbid_ptxas_fusion` rewrites them as
    their ``.rn`` forms (the same IEEE operations, which ``ptxas`` never fuses) in this
    package's PTX only; NVVM with ``-fma=0`` writes none (a test checks the kernels' PTX where
    NVVM is installed), so this is a second guard.
    **If absent:** :class:`MissingInternalError` at the import of
    :mod:`valuation.kernels.cuda.paths`, unless ``DPV_CUDA_PTXAS_FMAD=1`` turns the guard off.
``CUDADispatcher.targetoptions`` and ``_Kernel._codelibrary._lto``
    The options a kernel was declared with, and whether each compiled overload's code library
    links with link-time optimisation (:func:`lto_settings`). **Why:** numba-cuda's decorator
    factory ``cuda.jit(lto=False)`` drops the option (0.30.4), and with link-time optimisation
    nvJitLink compiles the IR again and contracts by its own default; only the kernel's
    options and its code library show what will be linked. **If absent:**
    :class:`MissingInternalError` from :func:`lto_settings` (a test and the device benchmark
    call it), never a guess.
``numba.cuda.dispatcher.get_current_device``
    Consulted by the compilation of device functions for the compute capability. **Why:**
    :func:`ptx_without_a_gpu` writes a kernel's PTX for a given compute capability on a
    machine with NVVM and no GPU (for tests and for comparing the PTX of two builds), which
    the public ``cuda.compile_ptx`` does only when no device function is called. **If
    absent:** :class:`MissingInternalError` from that function.

The tests observe the wrappers through :func:`linker_class` and :func:`ptx_given_to`
(``_Linker._object_codes``: what a linker was handed), and one test stands in numba-cuda's
``decorators._have_nvjitlink`` to see that the kernels link without link-time optimisation even
where numba-cuda would make it the default.

Whether numba's CUDA simulator is on (:func:`simulated`) is read from ``numba.config``, the
parsed form of numba's documented ``NUMBA_ENABLE_CUDASIM`` environment variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

# How the names of this package's functions appear in NVVM IR (mangled module path).
MARKER = "valuation7kernels4cuda"
# The first line of this package's PTX: what tells the linker's wrapper which PTX is ours.
PTX_TAG = f"// {MARKER}: compiled with -fma=0\n".encode()
# The number of unrounded f64 operations rewritten as .rn at the last link of this package's
# PTX (absent: the guard is off or nothing was linked yet). Read by the device script.
PTXAS_GUARD: dict[str, str] = {}
_UNROUNDED = re.compile(r"\b(mul|add|sub)\.f64\b")
_PATCHED: list[str] = []
_ADD_PTX = "numba.cuda.cudadrv.driver._Linker.add_ptx"
_WHY_ROUNDED = "to link their PTX with rounded operations only (DPV_CUDA_PTXAS_FMAD=1: without)"


class MissingInternalError(RuntimeError):
    """The installed numba-cuda lacks an internal the GPU kernels' bit identity relies on."""


def numba_cuda_version() -> str:
    """Return the installed numba-cuda's version, or ``"unknown"``."""
    try:
        from importlib.metadata import version

        return version("numba-cuda")
    except Exception:  # not installed as a distribution (a source tree)
        return "unknown"


def require(owner: Any, name: str, where: str, why: str) -> Any:
    """Return ``owner.name``, or raise :class:`MissingInternalError` saying what is missing.

    Parameters
    ----------
    owner
        The module, class or object that holds the internal.
    name
        The attribute's name.
    where
        The internal's full name, for the message (``"numba.cuda.cudadrv.nvvm.compile_ir"``).
    why
        What the GPU kernels need it for, for the message.
    """
    value = getattr(owner, name, None)
    if value is None:
        raise _missing(where, why)
    return value


def _missing(where: str, why: str) -> MissingInternalError:
    return MissingInternalError(
        f"numba-cuda {numba_cuda_version()} has no {where}, which the GPU stress kernels "
        f"need {why} (checked on numba-cuda 0.30.4; see "
        f"valuation.kernels.cuda._numba_internals); the GPU kernels refuse to run rather "
        f"than give other bits than the CPU's: use --device cpu, or numba-cuda 0.30"
    )


def simulated() -> bool:
    """Return whether numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", 0))


def forbid_contraction() -> None:
    """Have NVVM compile this package's kernels with ``-fma=0``, and guard the linker.

    Wraps ``numba.cuda.cudadrv.nvvm.compile_ir`` (see the module's docstring): a compilation
    unit whose IR names a function of this package (:data:`MARKER`) is compiled with
    ``fma=0`` and its PTX starts with :data:`PTX_TAG`; then, unless ``DPV_CUDA_PTXAS_FMAD=1``,
    :func:`forbid_ptxas_fusion`. Idempotent; a no-op in the simulator.

    Raises
    ------
    MissingInternalError
        The installed numba-cuda lacks an internal wrapped here.
    """
    if "compile_ir" in _PATCHED or simulated():
        return
    from numba.cuda.cudadrv import nvvm

    compile_ir = require(
        nvvm,
        "compile_ir",
        "numba.cuda.cudadrv.nvvm.compile_ir",
        "to be compiled without contraction (-fma=0)",
    )
    guard = os.environ.get("DPV_CUDA_PTXAS_FMAD", "") in ("", "0")
    if guard:  # checked before anything is patched: all or nothing
        require(linker_class(), "add_ptx", _ADD_PTX, _WHY_ROUNDED)

    def compile_ir_without_contraction(llvmir: Any, **options: Any) -> Any:
        irs = [llvmir] if isinstance(llvmir, str) else llvmir
        if not any(MARKER in str(ir) for ir in irs):
            return compile_ir(llvmir, **options)
        try:
            ptx = compile_ir(llvmir, **{**options, "fma": False})
        except Exception as exc:
            text = str(exc).lower()
            if "fma" not in text and "option" not in text:
                raise
            raise MissingInternalError(
                f"NVVM refused -fma=0 ({exc}): the GPU stress kernels would contract "
                f"a·b + c and differ from the CPU's bits; use --device cpu"
            ) from exc
        if isinstance(ptx, bytes) and "gen-lto" not in options:
            ptx = PTX_TAG + ptx  # a comment naming the package, for the linker's wrapper
        return ptx

    nvvm.compile_ir = compile_ir_without_contraction
    _PATCHED.append("compile_ir")
    if guard:
        forbid_ptxas_fusion()


def forbid_ptxas_fusion() -> None:
    """Have the linker take this package's PTX with every ``f64`` mul, add and sub as ``.rn``.

    Wraps ``numba.cuda.cudadrv.driver._Linker.add_ptx`` (see the module's docstring): PTX
    that starts with :data:`PTX_TAG` has any ``mul.f64``, ``add.f64`` or ``sub.f64`` without a
    rounding mode rewritten as its ``.rn`` form before it is linked (:data:`PTXAS_GUARD`
    counts them); other PTX is linked as it comes. Idempotent.

    Raises
    ------
    MissingInternalError
        The installed numba-cuda lacks ``_Linker.add_ptx``.
    """
    if "add_ptx" in _PATCHED:
        return
    linker = linker_class()
    add_ptx = require(linker, "add_ptx", _ADD_PTX, _WHY_ROUNDED)

    def add_ptx_rounded(self: Any, ptx: Any, *args: Any, **kwargs: Any) -> Any:
        text = ptx.decode() if isinstance(ptx, bytes) else ptx
        if isinstance(text, str) and text.startswith(PTX_TAG.decode()):
            text, count = _UNROUNDED.subn(r"\1.rn.f64", text)
            PTXAS_GUARD["rewritten"] = str(count)
            ptx = text.encode() if isinstance(ptx, bytes) else text
        return add_ptx(self, ptx, *args, **kwargs)

    linker.add_ptx = add_ptx_rounded
    _PATCHED.append("add_ptx")


def linker_class() -> Any:
    """Return numba-cuda's linker class (``numba.cuda.cudadrv.driver._Linker``)."""
    from numba.cuda.cudadrv import driver

    return require(driver, "_Linker", "numba.cuda.cudadrv.driver._Linker", _WHY_ROUNDED)


def ptx_given_to(linker: Any) -> list[str]:
    """Return the PTX texts handed to ``linker`` so far (``_Linker._object_codes``), for tests."""
    codes = require(linker, "_object_codes", "_Linker._object_codes", "(for tests)")
    return [bytes(code.code).decode() for code in codes]


def lto_settings(kernel: Any) -> tuple[Any, list[Any]]:
    """Return ``kernel``'s declared ``lto`` option and each compiled overload's ``_lto``.

    Raises
    ------
    MissingInternalError
        The kernel has no ``targetoptions``, or a compiled overload no code library with an
        ``_lto`` attribute.
    """
    options = require(
        kernel, "targetoptions", "CUDADispatcher.targetoptions", "to check the link options"
    )
    libraries = [
        require(overload, "_codelibrary", "_Kernel._codelibrary", "to check how it links")
        for overload in kernel.overloads.values()
    ]
    missing = object()
    flags = [getattr(lib, "_lto", missing) for lib in libraries]
    if any(flag is missing for flag in flags):
        raise _missing("CUDACodeLibrary._lto", "to check how a kernel links")
    return options.get("lto"), flags


def ptx_without_a_gpu(func: Callable[..., Any], signature: Any, cc: tuple[int, int]) -> str:
    """Return the PTX of kernel ``func`` (a Python function) for ``signature`` and ``cc``.

    ``cuda.compile_ptx``, with the device numba-cuda asks for the compute capability of while
    compiling device functions answered by one of compute capability ``cc`` (no GPU needed;
    NVVM is). The PTX is what a launch on such a device compiles, :func:`forbid_contraction`
    included.
    """
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda

    require(
        dispatcher,
        "get_current_device",
        "numba.cuda.dispatcher.get_current_device",
        "to write PTX without a GPU",
    )

    class Device:
        compute_capability = cc

    saved = dispatcher.get_current_device
    dispatcher.get_current_device = Device
    try:
        ptx: str = cuda.compile_ptx(func, signature, cc=cc)[0]
    finally:
        dispatcher.get_current_device = saved
    return ptx


__all__ = [
    "MARKER",
    "PTXAS_GUARD",
    "PTX_TAG",
    "MissingInternalError",
    "forbid_contraction",
    "forbid_ptxas_fusion",
    "linker_class",
    "lto_settings",
    "numba_cuda_version",
    "ptx_given_to",
    "ptx_without_a_gpu",
    "require",
    "simulated",
]
