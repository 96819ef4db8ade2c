"""The numba-cuda internals the GPU kernels lean on: found, wrapped, and refused when missing.

:mod:`valuation.kernels.cuda._numba_internals` is the one module that touches them. Where an
internal is taken away (as a numba-cuda without it would have it), the kernels must refuse to
compile with an error that names it, and patch nothing, rather than run with other bits than
the CPU's. These tests run in this process without the simulator and without a GPU: nothing
here compiles a kernel.
"""

from __future__ import annotations

from typing import Any

import pytest

from valuation.kernels.cuda import _numba_internals as internals
from valuation.kernels.cuda._numba_internals import MissingInternalError

OURS = f"define void @_ZN9{internals.MARKER}5paths14_stress_kernel()"
OTHER = "define void @_ZN8__main__6kernel()"


def _nvvm() -> Any:
    """numba-cuda's NVVM module (skips where numba-cuda does not import or is simulated)."""
    try:
        from numba.cuda.cudadrv import nvvm
    except Exception as exc:  # not installed, or a NumPy it does not support
        pytest.skip(f"numba-cuda cannot be imported: {exc}")
    if internals.simulated():
        pytest.skip("the CUDA simulator is on in this process")
    return nvvm


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Any:
    """As at the first import outside the simulator: nothing wrapped yet, the guard on.

    The real ``compile_ir`` and ``add_ptx`` are put back after the test, whatever it wrapped.
    """
    nvvm = _nvvm()
    monkeypatch.setattr(internals, "_PATCHED", [])
    monkeypatch.setattr(internals, "simulated", lambda: False)
    monkeypatch.delenv("DPV_CUDA_PTXAS_FMAD", raising=False)
    monkeypatch.setattr(nvvm, "compile_ir", nvvm.compile_ir)
    linker = internals.linker_class()
    monkeypatch.setattr(linker, "add_ptx", linker.add_ptx)
    return nvvm


def test_require_names_what_is_missing_and_what_for():
    class Owner:
        present = 1

    assert internals.require(Owner, "present", "pkg.Owner.present", "to do x") == 1
    with pytest.raises(MissingInternalError) as caught:
        internals.require(Owner, "absent", "pkg.Owner.absent", "to do x")
    message = str(caught.value)
    assert f"numba-cuda {internals.numba_cuda_version()} has no pkg.Owner.absent" in message
    assert "need to do x" in message and "0.30.4" in message and "--device cpu" in message


def test_the_installed_numba_cuda_has_every_internal():
    nvvm = _nvvm()
    from numba.cuda import dispatcher

    assert callable(nvvm.compile_ir)
    assert callable(internals.linker_class().add_ptx)
    assert callable(dispatcher.get_current_device)


def test_without_compile_ir_the_kernels_refuse_to_build(
    fresh: Any, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delattr(fresh, "compile_ir")
    with pytest.raises(MissingInternalError, match=r"numba\.cuda\.cudadrv\.nvvm\.compile_ir"):
        internals.forbid_contraction()
    assert internals._PATCHED == []


def test_without_the_linker_hook_nothing_is_wrapped(fresh: Any, monkeypatch: pytest.MonkeyPatch):
    before = fresh.compile_ir
    monkeypatch.delattr(internals.linker_class(), "add_ptx")
    with pytest.raises(MissingInternalError, match=r"_Linker\.add_ptx"):
        internals.forbid_contraction()
    assert fresh.compile_ir is before and internals._PATCHED == []


def test_without_the_linker_class_nothing_is_wrapped(fresh: Any, monkeypatch: pytest.MonkeyPatch):
    from numba.cuda.cudadrv import driver

    before = fresh.compile_ir
    monkeypatch.delattr(driver, "_Linker")
    with pytest.raises(MissingInternalError, match=r"driver\._Linker"):
        internals.forbid_contraction()
    assert fresh.compile_ir is before


def test_with_the_guard_off_the_linker_hook_is_not_needed(
    fresh: Any, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DPV_CUDA_PTXAS_FMAD", "1")
    monkeypatch.delattr(internals.linker_class(), "add_ptx")
    internals.forbid_contraction()
    assert internals._PATCHED == ["compile_ir"]


def _fake_nvvm(refuse: bool) -> tuple[Any, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def compile_ir(llvmir: Any, **options: Any) -> bytes:
        calls.append(options)
        if refuse and options.get("fma") is False:
            raise ValueError("libnvvm: unknown option '-fma=0'")
        return b"PTX"

    return compile_ir, calls


def test_our_ir_is_compiled_without_contraction_and_tagged(
    fresh: Any, monkeypatch: pytest.MonkeyPatch
):
    compile_ir, calls = _fake_nvvm(refuse=False)
    monkeypatch.setattr(fresh, "compile_ir", compile_ir)
    internals.forbid_contraction()
    assert fresh.compile_ir([OTHER], arch="compute_90") == b"PTX"
    assert fresh.compile_ir([OURS], arch="compute_90") == internals.PTX_TAG + b"PTX"
    assert calls == [{"arch": "compute_90"}, {"arch": "compute_90", "fma": False}]


def test_an_nvvm_that_refuses_fma_0_is_an_error_not_other_bits(
    fresh: Any, monkeypatch: pytest.MonkeyPatch
):
    compile_ir, _ = _fake_nvvm(refuse=True)
    monkeypatch.setattr(fresh, "compile_ir", compile_ir)
    internals.forbid_contraction()
    assert fresh.compile_ir([OTHER]) == b"PTX"
    with pytest.raises(MissingInternalError, match="NVVM refused -fma=0"):
        fresh.compile_ir([OURS])


class _Library:
    _lto = False


class _Overload:
    _codelibrary = _Library()


class _Kernel:
    def __init__(self) -> None:
        self.targetoptions = {"lto": False}
        self.overloads = {"sig": _Overload()}


def test_lto_settings_read_the_options_and_each_overloads_library():
    assert internals.lto_settings(_Kernel()) == (False, [False])


@pytest.mark.parametrize(
    ("break_it", "named"),
    [
        (lambda k: setattr(k, "targetoptions", None), "targetoptions"),
        (lambda k: setattr(k, "overloads", {"sig": object()}), "_codelibrary"),
        (lambda k: setattr(k, "overloads", {"sig": _with(_codelibrary=object())}), "_lto"),
    ],
)
def test_lto_settings_without_an_internal_is_an_error(break_it: Any, named: str):
    kernel = _Kernel()
    break_it(kernel)
    with pytest.raises(MissingInternalError, match=named):
        internals.lto_settings(kernel)


def _with(**attributes: Any) -> Any:
    holder = type("Holder", (), {})()
    for name, value in attributes.items():
        setattr(holder, name, value)
    return holder


def test_a_gpu_with_a_numba_cuda_lacking_an_internal_is_not_usable(
    fresh: Any, monkeypatch: pytest.MonkeyPatch
):
    """``--device auto`` falls back to the CPU and ``--device cuda`` is an input error, with the
    missing internal named, rather than a run with other bits."""
    from numba import cuda

    from valuation.kernels.cuda import select

    class Gpu:
        name = b"NVIDIA H200"

    monkeypatch.setattr(cuda, "is_available", lambda: True)
    monkeypatch.setattr(cuda, "get_current_device", lambda: Gpu())
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    status = select.cuda_status.__wrapped__
    assert status() == (True, "NVIDIA H200")
    monkeypatch.setattr(internals, "_PATCHED", [])
    monkeypatch.delattr(fresh, "compile_ir")
    available, message = status()
    assert not available and "nvvm.compile_ir" in message
