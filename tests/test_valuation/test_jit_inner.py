"""Kernels without wrappers (jit_inner): still callable from Python, the same bits."""

from __future__ import annotations

import importlib
import os
import pickle
import pkgutil
import subprocess
import sys

import numpy as np
import pytest

from valuation.kernels import _jit, rng
from valuation.kernels import stress as kernel
from valuation.kernels import valuation as valuation_kernels

pytestmark = pytest.mark.skipif(_jit.DISABLE_JIT, reason="plain Python: no dispatchers")


def test_the_helpers_are_compiled_without_wrappers():
    """Every kernel of the stress package, rng.py and valuation.py but the entry points (called
    from Python) is a jit_inner one."""
    entries = {"stress_paths", "gbm_min_ratio", "value_batch", "range_batch"}
    stress_modules = [
        importlib.import_module(f"{kernel.__name__}.{info.name}")
        for info in pkgutil.iter_modules(kernel.__path__)
    ]
    seen = 0
    for module in (*stress_modules, rng, valuation_kernels):
        for name, value in vars(module).items():
            if getattr(value, "__module__", None) != module.__name__ or not hasattr(
                value, "targetoptions"
            ):
                continue
            seen += 1
            inner = value.targetoptions.get("no_cpython_wrapper", False)
            assert inner == (name not in entries), name
            assert isinstance(value, _jit._inner_dispatcher_class()) == inner, name
    assert seen > 40


def test_a_python_call_of_an_inner_kernel_runs_its_wrapped_twin():
    u = np.random.default_rng(5).random(300)
    tails = np.empty(301, dtype=np.int64)
    count = kernel.list_outside(u, 300, kernel._P_LOW, kernel._P_HIGH, tails)  # no crash
    expected = np.flatnonzero((u < kernel._P_LOW) | (u > kernel._P_HIGH))
    np.testing.assert_array_equal(tails[:count], expected)
    twin = _jit.python_callable(kernel.list_outside)
    assert twin is not kernel.list_outside
    assert twin is _jit.python_callable(kernel.list_outside)  # compiled once per process
    assert not twin.targetoptions.get("no_cpython_wrapper", False)
    assert _jit.python_callable(kernel.stress_paths) is kernel.stress_paths  # has its wrapper
    assert _jit.python_callable(np.exp) is np.exp


def test_an_inner_kernel_pickles_as_its_class():
    restored = pickle.loads(pickle.dumps(kernel.exp_scalar))
    assert isinstance(restored, _jit._inner_dispatcher_class())
    assert restored(1.0) == kernel.exp_scalar(1.0)


def test_inner_kernels_are_plain_python_without_jit():
    code = (
        "from valuation.kernels import stress as k\n"
        "assert not hasattr(k.exp_scalar, 'targetoptions')\n"
        "assert abs(k.exp_scalar(1.0) - 2.718281828459045) < 1e-15\n"
    )
    env = {**os.environ, "DPV_DISABLE_JIT": "1"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
