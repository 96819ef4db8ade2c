"""The numba the kernels run on: inside the supported range, and every kernel compiles on it.

The kernels use two numba internals (the class of a wrapper-less dispatcher and the ``cttz``
intrinsic, see :mod:`valuation.kernels._jit`); these tests are what says a numba upgrade broke
them, naming the version, before a user finds out.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from valuation.kernels import _jit
from valuation.kernels import stress as kernel
from valuation.risk.api import simulate
from valuation.risk.model import build_model
from valuation.schema.stress import StressRequest

pytestmark = pytest.mark.skipif(_jit.DISABLE_JIT, reason="plain Python: numba is not used")

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_installed_numba_is_in_the_supported_range():
    version = _jit.numba_version()
    assert version in SpecifierSet(_jit.SUPPORTED_NUMBA), (
        f"numba {version} is outside the range the kernels are tested on "
        f"({_jit.SUPPORTED_NUMBA}); run this file on it before widening the range"
    )


def test_pyproject_requires_the_supported_range():
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    numba = [Requirement(d) for d in dependencies if Requirement(d).name == "numba"]
    assert [r.specifier for r in numba] == [SpecifierSet(_jit.SUPPORTED_NUMBA)]


def test_an_inner_kernel_is_still_numbas_dispatcher():
    """A kernel calling a jit_inner kernel needs numba's own dispatcher class underneath."""
    from numba.core.registry import CPUDispatcher

    version = _jit.numba_version()
    inner = kernel.exp_scalar
    assert type(inner).__mro__[1] is CPUDispatcher, f"numba {version}: {type(inner).__mro__}"
    assert inner.targetoptions.get("no_cpython_wrapper", False), f"numba {version}"
    assert inner(0.5) == _jit.python_callable(inner)(0.5)


def test_an_unexpected_dispatcher_class_fails_loudly_naming_numba():
    with pytest.raises(RuntimeError, match=f"numba {_jit.numba_version()}"):
        _jit._without_python_wrappers(object())


REQUEST = {
    "as_of": "2026-11-01",
    "loan": {"amount": 50.0, "tenor_months": 12},
    "collateral": [
        {
            "id": "c1",
            "value": 100.0,
            "volatility": 0.3,
            "jump_intensity": 2.0,
            "jump_mean": -0.1,
            "revocation_hazard": 0.2,
            "expiry_months": 6,
        }
    ],
    "borrower": {"annual_pd": 0.1, "wrong_way": 0.4},
    "simulation": {"paths": 700, "seed": 5},
}

_PROBE = """
import hashlib, json, sys
from valuation.kernels.registry import warmup_all
from valuation.risk.api import simulate
from valuation.risk.model import build_model
from valuation.schema.stress import StressRequest
warmup_all()
stats = simulate(build_model(StressRequest.model_validate(json.loads(sys.argv[1]))), 700)
print(hashlib.sha256(stats.min_ratio.tobytes() + stats.loss.tobytes()).hexdigest())
"""


@pytest.mark.slow
def test_every_kernel_compiles_and_runs_on_this_numba(tmp_path):
    """A cold compile of every kernel group (``dpv warmup``) in a fresh process, then a stress
    run with the freshly compiled kernel: the same bits as this process's kernel."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["DPV_CACHE_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(REQUEST)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"numba {_jit.numba_version()}:\n{done.stderr[-3000:]}"
    assert any(tmp_path.rglob("*.nbi")), "nothing was compiled into the empty cache"
    stats = simulate(build_model(StressRequest.model_validate(REQUEST)), 700)
    expected = hashlib.sha256(stats.min_ratio.tobytes() + stats.loss.tobytes()).hexdigest()
    assert done.stdout.strip() == expected
