"""The GPU stress kernel against the CPU kernel, bit for bit; the device selection.

The kernel's logic runs under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) in a
subprocess: numba-cuda reads the variable when it is imported, so it must not leak into this
process. The real-GPU tests run only where numba-cuda finds a GPU.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from valuation.cli import main
from valuation.kernels.cuda import select
from valuation.kernels.cuda.prep import device_constants, revocation_table
from valuation.kernels.rng import uniform_from_word
from valuation.kernels.stress import revocation_step
from valuation.risk.api import DeviceFallbackWarning, PathStats, simulate, stress
from valuation.risk.model import build_model
from valuation.schema.stress import StressRequest

FULL: dict[str, Any] = {
    "as_of": "2026-11-01",
    "loan": {"amount": 60.0, "tenor_months": 12, "annual_rate": 0.06, "amortization": "annuity"},
    "collateral": [
        {
            "id": "c1",
            "value": 60.0,
            "sector": "ai",
            "drift": 0.02,
            "volatility": 0.35,
            "jump_intensity": 3.0,
            "jump_mean": -0.15,
            "jump_volatility": 0.2,
            "revocation_hazard": 0.6,
            "revocation_loss": 0.8,
            "expiry_months": 5,
            "renewal_probability": 0.5,
            "lapse_loss": 0.5,
        },
        {
            "id": "c2",
            "value": 30.0,
            "sector": "ai",
            "drift": -0.05,
            "volatility": 0.25,
            "jump_intensity": 1.0,
            "jump_mean": -0.3,
            "jump_volatility": 0.1,
            "revocation_hazard": 0.4,
            "revocation_loss": 1.0,
        },
        {"id": "c3", "value": 20.0, "sector": "finance", "volatility": 0.2},
    ],
    "correlation": 0.5,
    "borrower": {"annual_pd": 0.6, "wrong_way": 0.5},
    "policy": {"margin_call_ltv": 0.8, "months_to_liquidate": 6, "liquidation_discount": 0.3},
    "simulation": {"paths": 70, "seed": 99, "steps_per_year": 12},
}


def _variant(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(FULL)
    for dotted, value in changes.items():
        target: Any = doc
        parts = dotted.split("__")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        target[parts[-1]] = value
    return doc


# name: (request, paths, path_start). Path counts are not multiples of the CPU's block of
# paths or of the GPU's block of threads (128 on a GPU, 8 in the simulator: the last block of
# every launch is partial); every case draws every stream it can.
CASES: dict[str, tuple[dict[str, Any], int, int]] = {
    # All events, defaults before and after the tenor (sold after it), seed 99.
    "full": (FULL, 70, 3),
    # Another seed; a low default probability, so the CPU finds defaults from the tails only.
    "tails_only_default": (
        _variant(
            simulation={"paths": 60, "seed": 7}, borrower={"annual_pd": 0.15, "wrong_way": 0.1}
        ),
        60,
        0,
    ),
    # No sector factor, no wrong-way risk (no borrower factor), a total loss at revocation.
    "independent": (
        _variant(correlation=0.0, borrower={"annual_pd": 0.5, "wrong_way": 0.0}),
        37,
        1000,
    ),
    # No borrower: no default draws at all; a third seed.
    "no_borrower": (
        _variant(borrower={"annual_pd": 0.0}, simulation={"paths": 33, "seed": 123456789}),
        33,
        5,
    ),
    # A tenor of 13 months (not a whole number of four-step blocks), sold 5 months on.
    "odd_tenor": (
        _variant(
            loan={"amount": 60.0, "tenor_months": 13, "amortization": "linear"},
            policy={"margin_call_ltv": 0.8, "months_to_liquidate": 5},
            simulation={"paths": 41, "seed": 31},
        ),
        41,
        2,
    ),
    # 100 jumps a year over five years: the jump schedule comes in two segments.
    "two_jump_segments": (
        _variant(
            loan={"amount": 60.0, "tenor_months": 60, "amortization": "annuity"},
            collateral__0__jump_intensity=100.0,
            collateral__0__jump_mean=-0.01,
            collateral__0__jump_volatility=0.05,
            collateral__0__expiry_months=30,
        ),
        20,
        0,
    ),
}

_SIMULATOR_SCRIPT = """
import json, sys
import numpy as np
from valuation.kernels import stress as cpu
from valuation.kernels.cuda import primitives as gpu
from valuation.kernels.cuda.select import cuda_status
from valuation.risk.api import PathStats, simulate, stress
from valuation.risk.model import build_model
from valuation.schema.stress import StressRequest

cases = json.loads(sys.stdin.read())
report = {"status": cuda_status()[1], "cases": {}}
for name, (doc, paths, start) in cases.items():
    model = build_model(StressRequest.model_validate(doc))
    a = simulate(model, paths, path_start=start, device="cpu")
    b = simulate(model, paths, path_start=start, device="cuda")
    flags = np.bitwise_or.reduce(a.flags, axis=1)
    late = (a.default_step >= 0) & (a.default_step + model.n_liquidation_steps > model.n_steps)
    report["cases"][name] = {
        "identical": {f: bool(np.array_equal(getattr(a, f), getattr(b, f)))
                      for f in PathStats.__dataclass_fields__},
        "defaults": int(np.count_nonzero(a.default_step >= 0)),
        "sold_after_tenor": int(np.count_nonzero(late)),
        "revoked": int(np.count_nonzero(flags & 1)),
        "lapsed": int(np.count_nonzero(flags & 4)),
    }

# The primitives, one by one, on inputs that reach every branch.
x = np.concatenate([np.linspace(-760.0, 720.0, 2001), [-np.inf, -708.0, 709.0, 0.0, -0.0]])
u = np.concatenate([np.geomspace(0.5 / 2**32, 0.5, 400), 1.0 - np.geomspace(0.5 / 2**32, 0.5, 400)])
words = np.random.default_rng(5).integers(0, 2**32, 200, dtype=np.uint64)
report["primitives"] = {
    "exp_scalar": all(cpu.exp_scalar(v) == gpu.exp_scalar(v) for v in x),
    "inverse_normal": all(cpu.inverse_normal(v) == gpu.inverse_normal(v) for v in u),
    "log_positive": all(cpu.log_positive(v) == gpu.log_positive(v) for v in u[u < 0.5]),
    "lane_normal": all(
        cpu.lane_normal(np.uint64(3), w, np.uint64(i), np.uint64(i % 7), i % 4)
        == gpu.lane_normal(np.uint64(3), w, np.uint64(i), np.uint64(i % 7), i % 4)
        for i, w in enumerate(words)
    ),
    "poisson": all(
        cpu.poisson_inverse(v, m) == gpu.poisson_inverse_p0(v, m, np.exp(-m))
        for v in u[::7] for m in (0.01, 0.5, 3.0, 40.0)
    ),
}

# A block's four normals at once (tails batched) against the CPU's normal of each word:
# blocks with 0 to 4 words in the tails, low and high, at every position.
from valuation.kernels.rng import uniform_from_word
rng = np.random.default_rng(11)
low, high = rng.integers(0, 104_000_000, 50), rng.integers(2**32 - 104_000_000, 2**32, 50)
tail_words = np.concatenate([low, high])  # uniforms below 0.02425 and above 1 - 0.02425
same = []
for trial in range(100):
    block = rng.integers(104_200_000, 2**32 - 104_200_000, 4).astype(np.uint32)
    for lane in rng.permutation(4)[: trial % 5]:
        block[lane] = tail_words[rng.integers(0, tail_words.size)]
    normals = np.full(4, np.nan)
    gpu.block_normals(*(np.uint32(w) for w in block), normals)
    same.append(all(normals[j] == cpu.inverse_normal(uniform_from_word(np.uint64(block[j])))
                    for j in range(4)))
report["primitives"]["block_normals"] = all(same)

# A book: the twelve-step cases in one launch, each loan's rows as the CPU gives them alone.
from valuation.kernels.cuda.book import stress_book_cuda
names = [n for n in cases if n not in ("two_jump_segments", "odd_tenor")]
models = [build_model(StressRequest.model_validate(cases[n][0])) for n in names]
book = stress_book_cuda([model.arrays for model in models], 29, path_start=8)
report["book"] = {}
for row, (name, model) in enumerate(zip(names, models)):
    a = simulate(model, 29, path_start=8, device="cpu")
    k = model.items.shape[0]
    report["book"][name] = bool(
        np.array_equal(a.min_ratio, book.min_ratio[row])
        and np.array_equal(a.default_step, book.default_step[row])
        and np.array_equal(a.ead, book.ead[row])
        and np.array_equal(a.loss, book.loss[row])
        and np.array_equal(a.flags, book.flags[row][:, :k])
        and not book.flags[row][:, k:].any()
    )

# Launches split: paths in launches of 16 (three for one loan), loans one per launch.
from valuation.kernels.cuda import book as book_module, paths as paths_module
paths_module.MAX_PATHS_PER_LAUNCH = book_module.MAX_PATHS_PER_LAUNCH = 16
doc, n, start = cases["full"]
model = build_model(StressRequest.model_validate(doc))
a = simulate(model, 37, path_start=start, device="cpu")
b = simulate(model, 37, path_start=start, device="cuda")
split = stress_book_cuda([model.arrays, models[1].arrays], 29, path_start=8)
report["split_launches"] = bool(
    all(np.array_equal(getattr(a, f), getattr(b, f)) for f in PathStats.__dataclass_fields__)
    and np.array_equal(split.min_ratio[1], book.min_ratio[1])
    and np.array_equal(split.loss[0], simulate(model, 29, path_start=8, device="cpu").loss)
)

# The bare GBM yardstick of the benchmark, independent items and with the sector factor.
from valuation.kernels.cuda.gbm import gbm_min_ratio_cuda
from valuation.risk import model as m
report["gbm"] = []
for correlation in (0.0, 0.4):
    doc = {**cases["full"][0], "correlation": correlation}
    model = build_model(StressRequest.model_validate(doc))
    args = (
        model.items[:, m.LOG_V0].copy(), model.items[:, m.LOG_DRIFT_STEP].copy(),
        model.items[:, m.SIGMA_SQRT_DT].copy(), model.item_keys, model.sector_index,
        model.sector_keys, model.scalars[m.SQRT_RHO], model.scalars[m.SQRT_ONE_MINUS_RHO],
        model.stream_keys[0], model.profile, 17, 0, 45,
    )
    a, b = np.empty(45), np.empty(45)
    cpu.gbm_min_ratio(*args, a)
    gbm_min_ratio_cuda(*args, b)
    report["gbm"].append(bool(np.array_equal(a, b)))

# The whole stress result, scenarios and all: the same on both, but for the audit's device.
doc = cases["full"][0]
doc = {**doc, "scenarios": ["base", "market_freeze", "regulatory_shock"]}
on_cpu = stress(doc, device="cpu").model_dump(mode="json")
on_gpu = stress(doc, device="cuda").model_dump(mode="json")
report["stress_devices"] = [on_cpu["audit"].pop("device"), on_gpu["audit"].pop("device")]
report["stress_identical"] = on_cpu == on_gpu
print(json.dumps(report))
"""


def _run_python(
    script: str,
    *,
    simulator: bool = False,
    stdin: str | None = None,
    timeout: int = 600,
    args: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (its ``sys.argv[1:]``: ``args``) in a fresh interpreter, with or without
    the CUDA simulator.

    numba.cuda reads ``NUMBA_ENABLE_CUDASIM`` once, at import: a subprocess keeps either
    choice out of this test process. Fails the test when the script fails.
    """
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", script, *(args or [])],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def _needs_numba_cuda() -> None:
    """Skip unless numba-cuda imports (it is optional: dpv[cuda], and the dev extra)."""
    try:
        import numba.cuda  # noqa: F401
    except Exception as exc:  # an ImportError, or a NumPy it does not support
        pytest.skip(f"numba-cuda cannot be imported: {exc}")


@pytest.fixture(scope="module")
def simulator_report() -> dict[str, Any]:
    """Run every case on the CPU kernel and on the GPU kernel under the simulator."""
    _needs_numba_cuda()
    done = _run_python(_SIMULATOR_SCRIPT, simulator=True, stdin=json.dumps(CASES))
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_every_case_ends_in_a_partial_block() -> None:
    _needs_numba_cuda()
    from valuation.kernels.cuda.paths import SIMULATOR_THREADS_PER_BLOCK, THREADS_PER_BLOCK

    for _, paths, _ in CASES.values():
        assert paths % SIMULATOR_THREADS_PER_BLOCK and paths % THREADS_PER_BLOCK


@pytest.mark.parametrize("case", list(CASES))
def test_simulated_gpu_kernel_is_bit_identical(simulator_report: dict[str, Any], case: str):
    assert "simulator" in simulator_report["status"]
    result = simulator_report["cases"][case]
    assert all(result["identical"].values()), result


def test_the_cases_exercise_every_event(simulator_report: dict[str, Any]):
    """The comparison has something to compare: defaults (with sales after the tenor),
    revocations and lapses occur among the simulated paths."""
    cases = simulator_report["cases"]
    assert cases["full"]["defaults"] >= 5 and cases["full"]["sold_after_tenor"] >= 2
    assert cases["full"]["revoked"] >= 10 and cases["full"]["lapsed"] >= 5
    assert cases["tails_only_default"]["defaults"] >= 2
    assert cases["independent"]["defaults"] >= 2
    assert cases["no_borrower"]["defaults"] == 0
    assert cases["two_jump_segments"]["revoked"] >= 1
    assert cases["odd_tenor"]["sold_after_tenor"] >= 1


def test_tails_only_case_takes_the_cpu_kernels_tail_branch():
    """The CPU kernel decides default from the tail draws only when the factor term cannot
    bring the latent variable near the threshold (its test); the case is built to take it,
    and the full case not."""
    from valuation.kernels.stress import _Z_CENTRAL_MIN
    from valuation.risk import model as m

    def tails_only(doc: dict[str, Any]) -> bool:
        s = build_model(StressRequest.model_validate(doc)).scalars
        cut = s[m.DEFAULT_THRESHOLD] - s[m.WRONG_WAY_COMPLEMENT] * _Z_CENTRAL_MIN
        return bool(cut < -2.0 * abs(s[m.WRONG_WAY]))

    assert tails_only(CASES["tails_only_default"][0])
    assert not tails_only(CASES["full"][0])


def test_device_primitives_equal_the_cpu_ones(simulator_report: dict[str, Any]):
    assert all(simulator_report["primitives"].values()), simulator_report["primitives"]


def test_book_of_loans_in_one_launch_is_bit_identical(simulator_report: dict[str, Any]):
    """Loans with different items, sectors, seeds and borrowers share a launch; each loan's rows
    are what the CPU kernel gives for it alone."""
    twelve_steps = [n for n in CASES if n not in ("two_jump_segments", "odd_tenor")]
    assert simulator_report["book"] == dict.fromkeys(twelve_steps, True)


def test_split_launches_change_nothing(simulator_report: dict[str, Any]):
    assert simulator_report["split_launches"]


def test_gbm_yardstick_is_bit_identical(simulator_report: dict[str, Any]):
    assert simulator_report["gbm"] == [True, True]


def test_stress_result_is_the_same_on_both_devices(simulator_report: dict[str, Any]):
    assert simulator_report["stress_devices"] == ["cpu", "cuda"]
    assert simulator_report["stress_identical"]


@pytest.mark.parametrize("annual_hazard", [0.05, 0.6, 3.0])
def test_revocation_table_gives_revocation_step_for_every_word(annual_hazard: float):
    """The table's thresholds are where the CPU's revocation_step changes: each threshold's
    word is revoked by step k, the word before it is not; and random words agree."""
    p_step = -math.expm1(-annual_hazard / 12.0)
    horizon = 66
    table, certain = revocation_table(p_step, horizon)
    assert certain
    thresholds = np.array(table)
    assert np.all(np.diff(thresholds) <= 0)
    for k, w in enumerate(table, start=1):
        if w < 2**32:
            assert revocation_step(uniform_from_word(np.uint64(w)), p_step) <= k
        if 0 < w:
            assert revocation_step(uniform_from_word(np.uint64(w - 1)), p_step) > k
    words = np.random.default_rng(1).integers(0, 2**32, 3000, dtype=np.uint64)
    for w in words:
        direct = revocation_step(uniform_from_word(w), p_step)
        # smallest k with thresholds[k - 1] <= w, else beyond the horizon
        hits = np.flatnonzero(thresholds <= int(w))
        from_table = int(hits[0]) + 1 if hits.size else None
        assert from_table == (direct if direct <= horizon else None)


def test_revocation_table_edges():
    assert revocation_table(0.0, 3) == ((2**32,) * 3, True)
    assert revocation_table(1.0, 3) == ((0,) * 3, True)


def test_host_constants_are_the_cpu_kernels():
    """pool0 and exp(−λ·dt·L) by the same libm calls as the CPU kernel."""
    model = build_model(StressRequest.model_validate(FULL))
    aux, thresholds, pool0, certain = device_constants(model.items, model.n_steps + 6)
    assert pool0 == sum(math.exp(v) for v in model.items[:, 0])
    assert aux[0, 0] == math.exp(-(model.items[0, 4] * int(aux[0, 4])))
    assert thresholds.shape == (3, model.n_steps + 6)
    assert certain


# Device selection -------------------------------------------------------------------------


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "cuda_status", lambda: (False, "no GPU here"))


def test_resolve_device(no_gpu: None):
    assert select.resolve_device("cpu") == ("cpu", None)
    device, message = select.resolve_device("auto")
    assert device == "cpu" and message is not None and "no GPU here" in message
    with pytest.raises(select.DeviceUnavailableError, match="no GPU here"):
        select.resolve_device("cuda")
    with pytest.raises(ValueError, match="device must be one of"):
        select.resolve_device("tpu")
    assert select.resolve_device(None) == ("cpu", None)
    with select.use_device("cuda"):
        assert select.resolve_device(None) == ("cuda", None)
    assert select.current_device() == "cpu"


def test_auto_falls_back_to_the_cpu_with_a_warning(no_gpu: None):
    doc = {**FULL, "simulation": {"paths": 500, "seed": 3}}
    with pytest.warns(DeviceFallbackWarning, match="running on the CPU"):
        result = stress(doc, device="auto")
    assert result.audit.device == "cpu"
    assert result == stress(doc)


def test_cli_device_cuda_without_gpu_is_an_input_error(
    no_gpu: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = tmp_path / "stress.json"
    path.write_text(json.dumps({**FULL, "simulation": {"paths": 300, "seed": 3}}))
    assert main(["stress", str(path), "--device", "cuda"]) == 2
    assert "--device: no GPU to run on" in capsys.readouterr().err
    assert main(["stress", str(path), "--device", "auto", "--json"]) == 0
    captured = capsys.readouterr()
    assert "device auto: running on the CPU" in captured.err
    assert json.loads(captured.out)["audit"]["device"] == "cpu"


def test_reproduce_leaves_the_device_out_of_the_comparison():
    """An assessment filed from the GPU reproduces on the CPU (same bits); any other change
    of the audit block still shows."""
    from valuation.examples import load_example_pledge, load_example_registry
    from valuation.pledge.api import assess_pledge
    from valuation.pledge.reproduce import reproduce

    request = load_example_pledge()
    request["simulation"] = {"paths": 2000, "seed": 5}
    filed = assess_pledge(request, registry=load_example_registry()).model_dump(mode="json")
    assert filed["audit"]["device"] == "cpu"
    as_if_gpu = copy.deepcopy(filed)
    as_if_gpu["audit"]["device"] = "cuda"
    assert reproduce(as_if_gpu, device="cpu") == (True, [])
    tampered = copy.deepcopy(as_if_gpu)
    tampered["audit"]["seed"] = 6
    identical, found = reproduce(tampered, device="cpu")
    assert not identical and found


# The real GPU --------------------------------------------------------------------------------


def _real_gpu() -> tuple[bool, str]:
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0"):
        return False, "the simulator is on"
    return select.cuda_status()


_GPU, _GPU_STATUS = _real_gpu()
needs_gpu = pytest.mark.skipif(not _GPU, reason=f"no CUDA GPU: {_GPU_STATUS}")


@needs_gpu
@pytest.mark.parametrize("case", ["full", "tails_only_default", "two_jump_segments"])
def test_real_gpu_is_bit_identical(case: str):
    doc, _, _ = CASES[case]
    model = build_model(StressRequest.model_validate(doc))
    a = simulate(model, 5003, path_start=11, device="cpu")
    b = simulate(model, 5003, path_start=11, device="cuda")
    for name in PathStats.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@needs_gpu
def test_real_gpu_kernel_has_no_fused_multiply_add():
    from valuation.kernels.cuda.paths import _stress_kernel, fma_count

    model = build_model(StressRequest.model_validate(FULL))
    simulate(model, 100, device="cuda")
    assert fma_count(_stress_kernel) == 0


_PTX_TOOL = Path(__file__).resolve().parents[2] / "benchmarks" / "cuda_ptx.py"
_PTX_SCRIPT = """
import importlib.util, json, re, sys
spec = importlib.util.spec_from_file_location("cuda_ptx", sys.argv[1])
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
try:  # every kernel, for the argument types its launch gives it
    ptx = "".join(tool.kernel_ptx((9, 0)).values())
except Exception as exc:  # no NVVM here
    print(json.dumps({"skip": f"{type(exc).__name__}: {exc}"[:300]}))
    sys.exit(0)
ops = re.findall(r"\\b((?:fma|mul|add|sub|div|sqrt|rcp|ex2|lg2|sin|cos)\\.[a-z0-9.]*f64)", ptx)
print(json.dumps({"ops": sorted(set(ops))}))
"""


def test_kernel_ptx_has_only_correctly_rounded_operations():
    """Where NVVM is installed (no GPU needed), the GPU kernels' PTX holds only IEEE
    operations rounded to nearest: no fused multiply-add, no approximate division or square
    root, no hardware transcendental."""
    _needs_numba_cuda()
    done = _run_python(_PTX_SCRIPT, args=[str(_PTX_TOOL)])
    report = json.loads(done.stdout)
    if "skip" in report:
        pytest.skip(f"cannot compile PTX here: {report['skip']}")
    assert report["ops"], "no floating-point operation found"
    assert set(report["ops"]) <= {
        "mul.rn.f64",
        "add.rn.f64",
        "sub.rn.f64",
        "div.rn.f64",
        "sqrt.rn.f64",
    }, report["ops"]


_WITHOUT_NUMBA_CUDA = """
import sys, warnings
sys.modules["numba.cuda"] = None  # as if numba-cuda were not installed
sys.modules["numba_cuda"] = None
from valuation.kernels.cuda.prep import device_constants
from valuation.risk.api import DeviceFallbackWarning, stress
doc = {"as_of": "2026-11-01", "loan": {"amount": 50.0, "tenor_months": 12},
       "collateral": [{"id": "c1", "value": 100.0, "volatility": 0.3}],
       "simulation": {"paths": 500, "seed": 1}}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    result = stress(doc, device="auto")
assert result.audit.device == "cpu", result.audit
assert result == stress(doc, device="cpu")
assert [w.category for w in caught] == [DeviceFallbackWarning], caught
assert "numba-cuda is not installed" in str(caught[0].message), caught[0].message
print("ok")
"""


def test_cpu_paths_work_without_numba_cuda():
    done = _run_python(_WITHOUT_NUMBA_CUDA)
    assert done.stdout.strip() == "ok"


_LINK_SCRIPT = """
import json
from valuation.kernels.cuda import _numba_internals as internals, paths  # paths: the wrappers

body = "".join(
    line + ";\\n"
    for line in (
        "mul.f64 %fd1, %fd2, %fd3", "add.f64 %fd4, %fd1, %fd5", "sub.f64 %fd6, %fd1, %fd5",
        "mul.rn.f64 %fd7, %fd1, %fd5", "mul.wide.u32 %rd1, %r1, %r2", "add.s64 %rd2, %rd1, %rd1",
    )
)
Linker = internals.linker_class()
ours = Linker(cc=(9, 0))
ours.add_ptx((internals.PTX_TAG.decode() + body).encode())
other = Linker(cc=(9, 0))
other.add_ptx(body.encode())
code = lambda linker: internals.ptx_given_to(linker)[0]
print(json.dumps({"ours": code(ours), "other": code(other), "guard": internals.PTXAS_GUARD}))
"""


def test_linker_takes_the_packages_ptx_with_rounded_operations_only():
    """The package's PTX reaches the linker with every f64 mul, add and sub in its ``.rn``
    form (which ptxas never fuses), integer operations untouched; other PTX is left alone."""
    _needs_numba_cuda()
    done = _run_python(_LINK_SCRIPT, timeout=300)
    report = json.loads(done.stdout.splitlines()[-1])
    ours = report["ours"]
    assert "mul.f64" not in ours and "add.f64" not in ours and "sub.f64" not in ours
    assert ours.count("mul.rn.f64") == 2 and "add.rn.f64" in ours and "sub.rn.f64" in ours
    assert "mul.wide.u32" in ours and "add.s64" in ours
    assert "mul.f64 %fd1" in report["other"]
    assert report["guard"] == {"rewritten": "3"}


_OPTIONS_SCRIPT = """
import json
import numba.cuda.decorators as decorators
decorators._have_nvjitlink = lambda: True  # as on a machine with nvJitLink: LTO by default
from valuation.kernels.cuda import gbm, paths
kernels = {"stress": paths._stress_kernel, "book": paths._book_kernel, "gbm": gbm._gbm_kernel}
print(json.dumps({
    "limit": paths.MAX_REGISTERS,
    "kernels": {
        name: [k.targetoptions.get("lto"), k.targetoptions.get("max_registers"),
               paths.linked_without_lto(k)]
        for name, k in kernels.items()
    },
}))
"""


def test_kernels_are_linked_without_lto_at_the_register_limit():
    """Every GPU kernel is compiled without link-time optimisation, even where nvJitLink
    would make it numba-cuda's default (at link time nvJitLink contracts ``a·b + c`` into
    fused multiply-adds whatever NVVM was told), and with the package's register limit."""
    _needs_numba_cuda()
    done = _run_python(_OPTIONS_SCRIPT, timeout=300)
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["limit"] == 64
    for name, (lto, registers, linked_without_lto) in report["kernels"].items():
        assert lto is False and linked_without_lto, name
        assert registers == report["limit"], name
