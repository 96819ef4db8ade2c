"""The ahead-of-time stress kernel: bit-identical to the JIT, safe fallbacks, no numba import.

One module is built (``valuation.kernels.aot.build``) into a temporary ``DPV_CACHE_DIR`` for the
whole file; every output array of the kernel is compared byte for byte with the JIT kernel's on
models that exercise each part of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from valuation.cli import main
from valuation.hashing import sha256_file
from valuation.kernels import aot
from valuation.kernels.stress import stress_paths as jit_stress_paths
from valuation.risk.api import simulate, stress
from valuation.risk.model import StressModel, build_model
from valuation.schema.stress import StressRequest

BASE: dict[str, Any] = {
    "as_of": "2026-11-01",
    "loan": {"amount": 60.0, "tenor_months": 24, "annual_rate": 0.05},
    "collateral": [
        {"id": "a", "value": 50.0, "sector": "ai", "drift": 0.03, "volatility": 0.3},
        {"id": "b", "value": 40.0, "sector": "finance", "drift": -0.01, "volatility": 0.2},
    ],
    "correlation": 0.4,
    "simulation": {"paths": 1000, "seed": 11, "steps_per_year": 12},
    "scenarios": ["base"],
}

_ITEM_EVENTS: dict[str, Any] = {
    "jumps": {"jump_intensity": 3.0, "jump_mean": -0.1, "jump_volatility": 0.2},
    "revocation": {"revocation_hazard": 0.4, "revocation_loss": 0.7},
    "expiry": {"expiry_months": 9, "renewal_probability": 0.5, "lapse_loss": 0.6},
}


def _request(name: str) -> StressRequest:
    doc = json.loads(json.dumps(BASE))
    if name in _ITEM_EVENTS:
        for item in doc["collateral"]:
            item.update(_ITEM_EVENTS[name])
    elif name == "default_wrong_way":
        doc["borrower"] = {"annual_pd": 0.2, "wrong_way": 0.6}
    elif name == "amortising":
        doc["loan"] = {"amount": 70.0, "tenor_months": 36, "annual_rate": 0.08}
        doc["loan"]["amortization"] = "annuity"
        doc["borrower"] = {"annual_pd": 0.05}
    elif name == "liquidation_beyond_tenor":
        doc["loan"] = {"amount": 60.0, "tenor_months": 12, "amortization": "linear"}
        doc["borrower"] = {"annual_pd": 0.5, "wrong_way": 0.3}
        doc["policy"] = {"months_to_liquidate": 9}
        for item in doc["collateral"]:
            item.update(_ITEM_EVENTS["jumps"], **_ITEM_EVENTS["revocation"])
    elif name == "everything":
        doc["borrower"] = {"annual_pd": 0.1, "wrong_way": 0.4}
        doc["policy"] = {"months_to_liquidate": 6}
        for item in doc["collateral"]:
            for events in _ITEM_EVENTS.values():
                item.update(events)
    elif name == "independent":
        doc["correlation"] = 0.0
    return StressRequest.model_validate(doc)


MODELS = (
    "jumps",
    "revocation",
    "expiry",
    "default_wrong_way",
    "amortising",
    "liquidation_beyond_tenor",
    "everything",
    "independent",
)


def _outputs(model: StressModel, rows: int) -> list[np.ndarray]:
    n_items = model.items.shape[0]
    return [
        np.full(rows, np.nan),
        np.full(rows, -7, dtype=np.int64),
        np.full(rows, np.nan),
        np.full(rows, np.nan),
        np.full((rows, n_items), 255, dtype=np.uint8),
        np.full((rows, n_items), np.nan),
        np.full((model.n_steps + 1, rows), np.nan, dtype=np.float32),
    ]


def _run(kernel: Any, model: StressModel, rows: int, path_start: int = 0) -> list[np.ndarray]:
    out = _outputs(model, rows)
    kernel(
        *model.kernel_inputs,
        path_start,
        0,
        rows,
        *out,
    )
    return out


@pytest.fixture(scope="module")
def cache_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DPV_CACHE_DIR holding a freshly built ahead-of-time module (and nothing else)."""
    base = tmp_path_factory.mktemp("dpv-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DPV_CACHE_DIR", str(base))
        mp.delenv("DPV_DISABLE_AOT", raising=False)
        report = aot.build()
        assert report.built
        assert report.path.parent == aot.aot_dir()
        print(f"AOT build {report.seconds:.1f} s (+ JIT warm-up {report.warmup_seconds:.1f} s)")
    return base


@pytest.fixture
def built(cache_base: Path, monkeypatch: pytest.MonkeyPatch) -> aot.AotStressKernel:
    monkeypatch.setenv("DPV_CACHE_DIR", str(cache_base))
    monkeypatch.delenv("DPV_DISABLE_AOT", raising=False)
    aot.forget()
    kernel = aot.load()
    assert kernel is not None, aot.last_reason()
    yield kernel
    aot.forget()


@pytest.mark.parametrize("name", MODELS)
def test_aot_kernel_is_bit_identical_to_jit(built: aot.AotStressKernel, name: str) -> None:
    model = build_model(_request(name))
    rows = 1000  # not a multiple of the 128-path block: the last block is partial
    assert built.accepts(
        *model.kernel_inputs,
        0,
        0,
        rows,
        *_outputs(model, rows),
    )
    for path_start in (0, 4321):
        ahead = _run(built, model, rows, path_start)
        jit = _run(jit_stress_paths, model, rows, path_start)
        for a, j in zip(ahead, jit, strict=True):
            assert a.dtype == j.dtype and a.shape == j.shape
            assert a.tobytes() == j.tobytes()
    stats = simulate(model, rows)
    if name in ("default_wrong_way", "liquidation_beyond_tenor", "everything"):
        assert np.count_nonzero(stats.default_step >= 0) > 0
        assert np.count_nonzero(stats.loss > 0) > 0
    if name == "liquidation_beyond_tenor":
        late = stats.default_step + model.n_liquidation_steps > model.n_steps
        assert np.count_nonzero(late & (stats.default_step >= 0)) > 0


def test_simulate_uses_the_aot_kernel_and_matches_jit(
    built: aot.AotStressKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert aot.stress_kernel() is built
    model = build_model(_request("everything"))
    ahead = simulate(model, 3000)
    monkeypatch.setenv("DPV_DISABLE_AOT", "1")
    assert aot.stress_kernel() is jit_stress_paths
    jit = simulate(model, 3000)
    for field in ahead.__dataclass_fields__:
        assert getattr(ahead, field).tobytes() == getattr(jit, field).tobytes(), field


def test_arguments_the_aot_signatures_do_not_take_go_to_the_jit(
    built: aot.AotStressKernel,
) -> None:
    model = build_model(_request("jumps"))
    rows = 300
    out = _outputs(model, rows)
    # A strided (non-contiguous) item matrix: the compiled wrapper would misread it.
    wide = np.zeros((model.items.shape[0], 2 * model.items.shape[1]))
    wide[:, ::2] = model.items
    strided = wide[:, ::2]
    args = (
        strided,
        model.sector_index,
        model.item_keys,
        model.sector_keys,
        model.stream_keys,
        model.profile,
        model.scalars,
        model.n_liquidation_steps,
        0,
        0,
        rows,
        *out,
    )
    assert not built.accepts(*args)
    assert not built.accepts(*args[:-1])  # an argument short
    assert not built.accepts(model.items.astype(np.float32), *args[1:])
    assert not built.accepts(*args[:8], np.uint64(0), *args[9:])
    built(*args)
    expected = _run(jit_stress_paths, model, rows)
    for a, j in zip(out, expected, strict=True):
        assert a.tobytes() == j.tobytes()


def test_aot_kernel_releases_the_gil(built: aot.AotStressKernel) -> None:
    model = build_model(_request("everything"))
    rows = 40_000
    out = _outputs(model, rows)
    window: list[float] = []

    def call() -> None:
        window.append(time.perf_counter())
        built(
            *model.kernel_inputs,
            0,
            0,
            rows,
            *out,
        )
        window.append(time.perf_counter())

    worker = threading.Thread(target=call)
    ticks: list[float] = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    start, end = window
    assert end - start > 0.02
    # With the GIL held, this thread could run only just before or after the kernel.
    lo, hi = start + 0.2 * (end - start), end - 0.2 * (end - start)
    assert sum(lo < t < hi for t in ticks) > 0


def _copy_module(cache_base: Path, target: Path) -> tuple[Path, Path]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DPV_CACHE_DIR", str(cache_base))
        source = aot.aot_dir()
        mp.setenv("DPV_CACHE_DIR", str(target))
        dest = aot.aot_dir()
        shutil.copytree(source, dest)
        return aot.module_files(aot.build_key(), dest)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong_key", "no_description"])
def test_a_stale_or_corrupt_module_is_ignored(
    cache_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    so_path, meta_path = _copy_module(cache_base, tmp_path)
    meta = json.loads(meta_path.read_text())
    if damage == "truncated":
        so_path.write_bytes(so_path.read_bytes()[:4096])
    elif damage == "garbage":  # a recorded hash that matches: the import itself fails
        so_path.write_bytes(b"\x7fELF" + b"\0" * 5000)
        meta["sha256"] = sha256_file(so_path)
        meta_path.write_text(json.dumps(meta))
    elif damage == "wrong_key":
        meta["key"] = "0" * 64
        meta_path.write_text(json.dumps(meta))
    else:
        meta_path.unlink()
    monkeypatch.setenv("DPV_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("DPV_DISABLE_AOT", raising=False)
    aot.forget()
    try:
        assert aot.load() is None
        assert aot.stress_kernel() is jit_stress_paths
        model = build_model(_request("expiry"))
        stats = simulate(model, 500)
        assert np.all(np.isfinite(stats.min_ratio))
    finally:
        aot.forget()


def test_the_key_follows_sources_and_target(monkeypatch: pytest.MonkeyPatch) -> None:
    key = aot.build_key()
    assert key == aot.build_key()
    assert {p.name for p in aot.kernel_sources()} >= {"paths.py", "rng.py", "_jit.py", "aot.py"}
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    assert aot.build_key() != key
    monkeypatch.delenv("NUMBA_CPU_NAME")
    assert aot.build_key() == key
    assert aot.module_name(key) in aot.module_files(key)[0].name
    fingerprint = aot.cpu_fingerprint()
    assert "flags" in fingerprint or "Features" in fingerprint or sys.platform != "linux"


_SCRIPT = """
import json, sys
import valuation
from valuation.kernels import aot
result = valuation.stress(json.loads(sys.stdin.read()))
print(json.dumps({
    "numba": "numba" in sys.modules,
    "kernel": type(aot.stress_kernel()).__name__,
    "result": result.model_dump(mode="json"),
}))
"""


def _in_subprocess(doc: dict[str, Any], **env: str) -> dict[str, Any]:
    environment = {k: v for k, v in os.environ.items() if k != "DPV_DISABLE_AOT"}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        input=json.dumps(doc),
        capture_output=True,
        text=True,
        env={**environment, **env},
        check=True,
        timeout=300,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_process_that_uses_the_aot_kernel_never_imports_numba(cache_base: Path) -> None:
    request = _request("everything")
    doc = request.model_dump(mode="json")
    doc["simulation"]["paths"] = 2000
    out = _in_subprocess(doc, DPV_CACHE_DIR=str(cache_base))
    assert out["kernel"] == "AotStressKernel"
    assert out["numba"] is False
    aot.forget()
    os.environ["DPV_DISABLE_AOT"] = "1"
    try:
        here = stress(doc).model_dump(mode="json")
    finally:
        del os.environ["DPV_DISABLE_AOT"]
        aot.forget()
    assert out["result"] == here


def test_disable_jit_still_runs_plain_python(cache_base: Path) -> None:
    doc = _request("jumps").model_dump(mode="json")
    doc["simulation"]["paths"] = 150
    out = _in_subprocess(doc, DPV_CACHE_DIR=str(cache_base), DPV_DISABLE_JIT="1")
    assert out["kernel"] == "function"
    assert out["numba"] is False
    here = stress(doc).model_dump(mode="json")
    assert out["result"]["paths"] == here["paths"] == 150
    assert out["result"]["breach_probability"] == pytest.approx(
        here["breach_probability"], abs=0.02
    )


def test_dpv_warmup_reports_the_aot_kernel(
    cache_base: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DPV_CACHE_DIR", str(cache_base))
    monkeypatch.delenv("DPV_DISABLE_AOT", raising=False)
    assert main(["warmup"]) == 0
    assert "ahead-of-time stress kernel up to date" in capsys.readouterr().err
    monkeypatch.setenv("DPV_DISABLE_AOT", "1")
    assert main(["warmup"]) == 0
    assert "switched off" in capsys.readouterr().err
    aot.forget()


def test_a_build_removes_this_cpus_stale_modules_only(cache_base: Path, tmp_path: Path) -> None:
    so_path, meta_path = _copy_module(cache_base, tmp_path)
    folder = so_path.parent
    fingerprint = json.loads(meta_path.read_text())["cpu_fingerprint"]
    assert fingerprint == aot.cpu_fingerprint()
    suffix = so_path.name[len(meta_path.stem) :]
    for stem, cpu in (("dpv_stress_old", fingerprint), ("dpv_stress_other_cpu", "elsewhere")):
        (folder / (stem + ".json")).write_text(json.dumps({"cpu_fingerprint": cpu}))
        (folder / (stem + suffix)).write_bytes(b"")
    aot._remove_stale(folder, meta_path.stem, fingerprint)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            so_path.name,
            meta_path.name,
            "dpv_stress_other_cpu.json",
            "dpv_stress_other_cpu" + suffix,
        ]
    )
