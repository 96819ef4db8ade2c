"""Where the GPU's bits part from the CPU's: the diagnostics of ``device_stress_cuda.py``.

* :func:`output_hashes`: SHA-256 of each output array, to compare the CPU's results across
  machines (the device's CPU against the reference machine's);
* :func:`cpu_hashes_in_subprocess`: the same in a fresh process with other numba settings
  (``DPV_VECTOR_WIDTH=256``, ``NUMBA_CPU_NAME=generic``);
* :func:`host_info`: the host CPU as LLVM names it, the features numba compiles for, SVML,
  the C library, and the external functions the CPU kernel's machine code calls;
* :func:`probe_primitives`: the device's Philox words, uniforms, normals, logarithm and
  exponential against the CPU's (scalar and vectorised) on the same inputs;
* :func:`trace_path`: one path of one event-free item step by step on both;
* :func:`ptx_census`: the floating-point and conversion instructions of a kernel's PTX, and
  the fused multiply-adds of its SASS where ``nvdisasm`` exists;
* :func:`occupancy`: registers, local and shared memory per thread of a kernel.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from valuation.kernels import layout as L

NAMES = ("min_ratio", "default_step", "ead", "loss", "flags", "terminal", "pool")
# The event-free item of the benchmark's model (no jumps, revocation or expiry).
PLAIN_ITEM = 2


def sha256(a: np.ndarray) -> str:
    """SHA-256 of an array's bytes (C order) with its dtype and shape."""
    a = np.ascontiguousarray(a)
    head = f"{a.dtype.str}{a.shape}".encode()
    return hashlib.sha256(head + a.tobytes()).hexdigest()


def output_hashes(arrays: list[np.ndarray]) -> dict[str, str]:
    """SHA-256 of each of the seven outputs, by name."""
    return {name: sha256(a) for name, a in zip(NAMES, arrays, strict=True)}


def cpu_hashes_in_subprocess(script: Path, n: int, env: dict[str, str]) -> dict[str, Any]:
    """Run ``script --cpu-hashes n`` in a fresh process with ``env`` added (own numba cache)."""
    return _hashes_in_subprocess(script, "--cpu-hashes", n, env)


def _hashes_in_subprocess(script: Path, mode: str, n: int, env: dict[str, str]) -> dict[str, Any]:
    """Run ``script mode n`` in a fresh process (own numba cache); its last JSON line."""
    with tempfile.TemporaryDirectory() as cache:
        full = dict(os.environ)
        if mode == "--cpu-hashes":
            full.pop("NUMBA_ENABLE_CUDASIM", None)
        full.update(env)
        full["DPV_CACHE_DIR"] = cache
        full.pop("NUMBA_CACHE_DIR", None)
        try:
            done = subprocess.run(
                [sys.executable, str(script), mode, str(n)],
                capture_output=True,
                text=True,
                env=full,
                timeout=150,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": "timed out after 150 s"}
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": f"rc={done.returncode}: {done.stderr[-800:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def host_info() -> dict[str, Any]:
    """The CPU and the numba settings the CPU kernel was compiled for, and its library calls."""
    import numba
    from llvmlite import binding as llvm

    info: dict[str, Any] = {
        "machine": platform.machine(),
        "libc": " ".join(platform.libc_ver()),
        "llvm_host_cpu": llvm.get_host_cpu_name(),
        "numba_cpu_name": numba.config.CPU_NAME,
        "numba_cpu_features": numba.config.CPU_FEATURES,
        "using_svml": bool(getattr(numba.config, "USING_SVML", False)),
        "dpv_vector_width": os.environ.get("DPV_VECTOR_WIDTH", ""),
        "packages": _versions(("llvmlite", "numba", "numpy", "icc-rt", "intel-cmplr-lib-rt")),
    }
    try:
        features = llvm.get_host_cpu_features()
        info["avx512f"] = bool(features.get("avx512f"))
        info["fma"] = bool(features.get("fma"))
    except Exception as exc:  # a figure lost, not the part
        info["features_error"] = str(exc)
    try:
        with open("/proc/cpuinfo") as f:
            model = next((x for x in f if x.startswith("model name")), "")
        info["cpu_model"] = model.split(":", 1)[-1].strip()
    except OSError:
        pass
    info["cpu_kernel_calls"] = cpu_kernel_calls()
    return info


def _versions(names: tuple[str, ...]) -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def cpu_kernel_calls() -> dict[str, int]:
    """C library functions the compiled CPU stress kernel calls (numba's own left out).

    Also counts its fused multiply-add instructions (``<fused multiply-add instructions>``).
    """
    from valuation.kernels._jit import _python_twin
    from valuation.kernels.stress import stress_paths

    calls: collections.Counter[str] = collections.Counter()
    try:  # a fresh compilation: numba shows no code of a kernel loaded from its cache
        twin = _python_twin(stress_paths)
        for signature in stress_paths.signatures:
            twin.compile(signature)
        for asm in twin.inspect_asm().values():
            # numba calls other functions through an address loaded by movabsq
            for name in re.findall(r"movabsq\s+\$([A-Za-z_][\w.]*)", asm):
                if not name.startswith(("_ZN", "NRT_", "Py", "_Py", "numba_", "memset", "memcpy")):
                    calls[name] += 1
            # fused multiply-adds in the CPU code (none without contraction)
            fused = re.findall(r"\bv?f(?:n)?m(?:add|sub)(?:sub|add)?\d{3}[ps][sd]\b", asm)
            calls["<fused multiply-add instructions>"] += len(fused)
            for name in re.findall(r"\bcall[lq]?\s+([A-Za-z_][\w.@]*)", asm):
                if not name.startswith(("_ZN", "NRT_", "Py", "numba_")):
                    calls[name.split("@")[0]] += 1
    except Exception as exc:  # a figure lost, not the part
        return {f"error: {exc}": 0}
    return dict(sorted(calls.items()))


def probe_inputs(n: int) -> dict[str, np.ndarray]:
    """Inputs for the primitives: stream coordinates, uniforms (tails heavy), exponents."""
    rng = np.random.default_rng(20261204)
    q = n // 4
    u = np.concatenate(
        [
            rng.random(n - 3 * q),
            rng.random(q) * 0.03,
            1.0 - rng.random(q) * 0.03,
            rng.random(q) * 1e-6,
        ]
    )
    u[u <= 0.0] = 0.5
    x = np.concatenate([rng.uniform(-3.0, 9.0, n - q), rng.uniform(-700.0, 700.0, q)])
    return {
        "keys": rng.integers(0, 2**63, n, dtype=np.uint64),
        "paths": rng.integers(0, 2**32, n, dtype=np.uint64),
        "blocks": rng.integers(0, 16, n, dtype=np.uint64),
        "lanes": rng.integers(0, 4, n).astype(np.int64),
        "u": u,
        "x": x,
    }


PROBES = ("word", "uniform", "step_normal", "inverse_normal", "log_positive", "exp_scalar")


def probe_cpu(inp: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """The CPU's scalar primitives on the probe inputs (and its vectorised exponential)."""
    from valuation.kernels import rng
    from valuation.kernels import stress as cpu
    from valuation.kernels._jit import python_callable

    block = python_callable(rng.philox_block)
    to_uniform = python_callable(rng.uniform_from_word)
    inverse = python_callable(cpu.inverse_normal)
    log_positive = python_callable(cpu.log_positive)
    exp_scalar = python_callable(cpu.exp_scalar)
    n = inp["u"].shape[0]
    out = {name: np.empty(n) for name in PROBES}
    out["word"] = np.empty(n, dtype=np.uint64)
    s = np.uint64(seed)
    for i in range(n):
        words = block(s, inp["keys"][i], inp["paths"][i], inp["blocks"][i])
        w = words[int(inp["lanes"][i])]
        out["word"][i] = w
        out["uniform"][i] = to_uniform(w)
        out["step_normal"][i] = inverse(out["uniform"][i])
        out["inverse_normal"][i] = inverse(inp["u"][i])
        out["log_positive"][i] = log_positive(inp["u"][i])
        out["exp_scalar"][i] = exp_scalar(inp["x"][i])
    vec = np.empty(n)
    python_callable(cpu.exp_into)(inp["x"].copy(), vec, np.empty(n, dtype=np.int64), n)
    out["exp_into"] = vec
    return out


def probe_gpu(inp: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """The device primitives on the probe inputs (one thread per input)."""
    from numba import cuda

    from valuation.kernels.cuda.paths import blocks_for

    n = inp["u"].shape[0]
    words = cuda.device_array(n, dtype=np.uint64)
    values = cuda.device_array((len(PROBES) - 1, n))
    kernel = _probe_kernel()
    kernel[blocks_for(n), 128](
        np.uint64(seed),
        *(cuda.to_device(inp[k]) for k in ("keys", "paths", "blocks", "lanes", "u", "x")),
        words,
        values,
    )
    host = values.copy_to_host()
    out = {"word": words.copy_to_host()}
    for r, name in enumerate(PROBES[1:]):
        out[name] = host[r]
    return out


_PROBE: list[Any] = []
# numba.cuda once a kernel is built: a module global, which the simulator swaps for its own.
threads: Any = None


def _probe_kernel() -> Any:
    """Compile (once) the kernel that runs each device primitive on one input per thread."""
    global threads
    if _PROBE:
        return _PROBE[0]
    from numba import cuda

    threads = cuda
    from valuation.kernels.cuda.paths import kernel_jit
    from valuation.kernels.cuda.primitives import (
        exp_scalar,
        inverse_normal,
        log_positive,
        philox4,
        pick,
        uniform,
    )

    @kernel_jit
    def probe(seed, keys, paths, blocks, lanes, u, x, words, values):  # type: ignore[no-untyped-def]
        i = threads.grid(1)
        if i >= u.shape[0]:
            return
        w0, w1, w2, w3 = philox4(seed, keys[i], paths[i], blocks[i])
        w = pick(w0, w1, w2, w3, lanes[i])
        words[i] = w
        values[0, i] = uniform(w)
        values[1, i] = inverse_normal(values[0, i])
        values[2, i] = inverse_normal(u[i])
        values[3, i] = log_positive(u[i])
        values[4, i] = exp_scalar(x[i])

    _PROBE.append(probe)
    return probe


def compare(a: np.ndarray, b: np.ndarray, inputs: np.ndarray | None = None) -> dict[str, Any]:
    """Mismatches between two arrays, with the first few as hex (input, a, b)."""
    bad = np.flatnonzero(a != b)
    report: dict[str, Any] = {"n": int(a.size), "mismatches": int(bad.size)}
    examples = []
    for i in bad[:5]:
        row = {"index": int(i), "a": _hex(a[i]), "b": _hex(b[i])}
        if inputs is not None:
            row["input"] = _hex(inputs[i])
        examples.append(row)
    if examples:
        report["examples"] = examples
    return report


def _hex(v: Any) -> str:
    if isinstance(v, np.floating | float):
        return float(v).hex()
    return hex(int(v))


def probe_report(cpu: dict[str, np.ndarray], gpu: dict[str, np.ndarray], inp: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Per primitive: the device's against the CPU's; and the CPU's vectorised exponential."""
    inputs = {
        "word": inp["paths"],
        "uniform": gpu["word"],
        "step_normal": gpu["word"],
        "inverse_normal": inp["u"],
        "log_positive": inp["u"],
        "exp_scalar": inp["x"],
    }
    report = {name: compare(cpu[name], gpu[name], inputs[name]) for name in PROBES}
    report["cpu_exp_into_vs_exp_scalar"] = compare(cpu["exp_into"], cpu["exp_scalar"], inp["x"])
    return report


def trace_gpu(m: dict[str, Any], path: int, item: int) -> np.ndarray:
    """Steps of ``item`` on ``path`` on the device: rows eps, common, shock, level, value."""
    from numba import cuda

    n_steps = m["profile"].shape[0] - 1
    out = cuda.device_array((5, n_steps))
    it = m["items"][item]
    _trace_kernel()[1, 1](
        np.uint64(m["stream_keys"][0]),
        np.uint64(m["item_keys"][item]),
        np.uint64(m["sector_keys"][m["sector_index"][item]]),
        np.uint64(path),
        float(m["scalars"][L.SQRT_RHO]),
        float(m["scalars"][L.SQRT_ONE_MINUS_RHO]),
        float(it[L.LOG_V0]),
        float(it[L.LOG_DRIFT_STEP]),
        float(it[L.SIGMA_SQRT_DT]),
        out,
    )
    return out.copy_to_host()


_TRACE: list[Any] = []


def _trace_kernel() -> Any:
    """Compile (once) the one-thread kernel of :func:`trace_gpu`."""
    if _TRACE:
        return _TRACE[0]
    from valuation.kernels.cuda.paths import kernel_jit
    from valuation.kernels.cuda.primitives import exp_scalar, lane_normal

    @kernel_jit
    def trace(seed, key, sector_key, path, sqrt_rho, sqrt_1m_rho, level0, drift, sigma, out):  # type: ignore[no-untyped-def]
        level = level0
        for k in range(1, out.shape[1] + 1):
            block = np.uint64((k - 1) // 4)
            lane = (k - 1) % 4
            eps = lane_normal(seed, key, path, block, lane)
            common = lane_normal(seed, sector_key, path, block, lane)
            shock = sqrt_rho * common + sqrt_1m_rho * eps
            level = level + (drift + sigma * shock + 0.0)
            out[0, k - 1] = eps
            out[1, k - 1] = common
            out[2, k - 1] = shock
            out[3, k - 1] = level
            out[4, k - 1] = exp_scalar(level)

    _TRACE.append(trace)
    return trace


def trace_cpu(m: dict[str, Any], path: int, item: int) -> np.ndarray:
    """:func:`trace_gpu` with the CPU's scalar functions (Python's IEEE arithmetic between)."""
    from valuation.kernels import stress as cpu
    from valuation.kernels._jit import python_callable

    lane_normal = python_callable(cpu.lane_normal)
    exp_scalar = python_callable(cpu.exp_scalar)
    n_steps = m["profile"].shape[0] - 1
    it = m["items"][item]
    seed = np.uint64(m["stream_keys"][0])
    key = np.uint64(m["item_keys"][item])
    sector_key = np.uint64(m["sector_keys"][m["sector_index"][item]])
    sqrt_rho = float(m["scalars"][L.SQRT_RHO])
    sqrt_1m_rho = float(m["scalars"][L.SQRT_ONE_MINUS_RHO])
    drift, sigma = float(it[L.LOG_DRIFT_STEP]), float(it[L.SIGMA_SQRT_DT])
    level = float(it[L.LOG_V0])
    out = np.empty((5, n_steps))
    for k in range(1, n_steps + 1):
        block, lane = np.uint64((k - 1) // 4), (k - 1) % 4
        eps = float(lane_normal(seed, key, np.uint64(path), block, lane))
        common = float(lane_normal(seed, sector_key, np.uint64(path), block, lane))
        shock = sqrt_rho * common + sqrt_1m_rho * eps
        level = level + (drift + sigma * shock + 0.0)
        out[:, k - 1] = eps, common, shock, level, exp_scalar(level)
    return out


def kernel_steps(run: Any, m: dict[str, Any], path: int, item: int, paths: int) -> np.ndarray:
    """``item``'s value on ``path`` after each step 1..n, from whole-kernel runs of n steps.

    ``run(m, n_paths)`` returns a kernel's seven outputs for paths ``0 .. n_paths − 1``; each
    run covers at least ``paths`` paths (a whole block: the CPU kernel's vector loops as in the
    full run).
    """
    n_steps = m["profile"].shape[0] - 1
    values = np.empty(n_steps)
    n_paths = max(paths, path + 1)
    for k in range(1, n_steps + 1):
        short = dict(m)
        short["profile"] = m["profile"][: k + 1].copy()
        values[k - 1] = run(short, n_paths)[5][path, item]
    return values


def trace_report(
    cpu_trace: np.ndarray,
    gpu_trace: np.ndarray,
    cpu_kernel: np.ndarray,
    gpu_kernel: np.ndarray,
) -> dict[str, Any]:
    """The first step where each pair differs, and the rows around the first difference."""
    rows = {
        "cpu_kernel_value": cpu_kernel,
        "gpu_kernel_value": gpu_kernel,
        "cpu_eps": cpu_trace[0],
        "gpu_eps": gpu_trace[0],
        "cpu_common": cpu_trace[1],
        "gpu_common": gpu_trace[1],
        "cpu_shock": cpu_trace[2],
        "gpu_shock": gpu_trace[2],
        "cpu_level": cpu_trace[3],
        "gpu_level": gpu_trace[3],
        "cpu_value": cpu_trace[4],
        "gpu_value": gpu_trace[4],
    }

    def first(a: np.ndarray, b: np.ndarray) -> int | None:
        bad = np.flatnonzero(a != b)
        return int(bad[0]) + 1 if bad.size else None

    firsts = {
        "kernel_value": first(cpu_kernel, gpu_kernel),
        "cpu_kernel_vs_cpu_scalar_value": first(cpu_kernel, cpu_trace[4]),
        "gpu_kernel_vs_gpu_scalar_value": first(gpu_kernel, gpu_trace[4]),
        "eps": first(cpu_trace[0], gpu_trace[0]),
        "common": first(cpu_trace[1], gpu_trace[1]),
        "shock": first(cpu_trace[2], gpu_trace[2]),
        "level": first(cpu_trace[3], gpu_trace[3]),
        "value": first(cpu_trace[4], gpu_trace[4]),
    }
    known = [k for k in firsts.values() if k is not None]
    k0 = min(known) if known else 1
    window = range(max(1, k0 - 1), min(cpu_kernel.shape[0], k0 + 2) + 1)
    return {
        "first_differing_step": firsts,
        "steps": {
            str(k): {name: float(v[k - 1]).hex() for name, v in rows.items()} for k in window
        },
        "all_steps": {name: [float(x).hex() for x in v] for name, v in rows.items()},
    }


def ptx_census(kernel: Any) -> dict[str, Any]:
    """Counts of the floating-point and conversion instructions of ``kernel``'s PTX (and SASS)."""
    texts = list(kernel.inspect_asm().values())
    ptx = "\n".join(texts)
    ops = collections.Counter(
        re.findall(
            r"\b((?:fma|mul|add|sub|div|sqrt|rcp|rsqrt|ex2|lg2|sin|cos|neg|abs|min|max|"
            r"cvt|mad|testp|copysign)\.[a-z0-9.]*)",
            ptx,
        )
    )
    interesting = {
        k: v
        for k, v in sorted(ops.items())
        if ("f64" in k or "f32" in k or k.startswith("cvt")) and not k.startswith("cvt.u")
    }
    report: dict[str, Any] = {
        "ops": interesting,
        # mul/add without a rounding mode may be fused by ptxas; .rn ones never are.
        "f64_mul_add_without_rn": sum(
            v for k, v in ops.items() if k in ("mul.f64", "add.f64", "sub.f64")
        ),
        "approximate": sum(v for k, v in ops.items() if "approx" in k),
        "calls": sorted(set(re.findall(r"call\.uni\s*(?:\([^)]*\),\s*)?([\w$]+)", ptx)))[:40],
    }
    try:
        sass = kernel.inspect_sass()
        sass_text = "\n".join(sass.values()) if isinstance(sass, dict) else str(sass)
        report["sass_dfma"] = len(re.findall(r"\bDFMA\b", sass_text))
        report["sass_dmul"] = len(re.findall(r"\bDMUL\b", sass_text))
        report["sass_dadd"] = len(re.findall(r"\bDADD\b", sass_text))
        report["sass_mufu"] = len(re.findall(r"\bMUFU\b", sass_text))
    except Exception as exc:  # no nvdisasm: the PTX's .rn operations are the evidence
        report["sass"] = f"unavailable: {type(exc).__name__}: {str(exc)[:200]}"
    return report


def occupancy(kernel: Any) -> dict[str, Any]:
    """Registers, local (spill) and shared memory per thread of each compiled overload."""
    report: dict[str, Any] = {}
    for name, getter in (
        ("regs_per_thread", "get_regs_per_thread"),
        ("local_mem_per_thread", "get_local_mem_per_thread"),
        ("shared_mem_per_block", "get_shared_mem_per_block"),
        ("max_threads_per_block", "get_max_threads_per_block"),
    ):
        try:
            value = getattr(kernel, getter)()
            report[name] = list(value.values()) if isinstance(value, dict) else value
        except Exception as exc:  # a figure lost, not the part
            report[name] = f"unknown: {type(exc).__name__}: {str(exc)[:120]}"
    return report


def load_reference(path: Path) -> dict[str, Any] | None:
    """The reference machine's hashes, or None."""
    try:
        result: dict[str, Any] = json.loads(path.read_text())
        return result
    except (OSError, ValueError):
        return None
