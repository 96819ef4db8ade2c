"""Public API of models/: sorted __all__, no upward imports, runnable docstring examples."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

import models

PACKAGE = Path(models.__file__).resolve().parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def test_all_is_sorted_and_importable():
    assert models.__all__ == sorted(models.__all__)
    for name in models.__all__:
        assert getattr(models, name) is not None


@pytest.mark.parametrize("module", MODULES)
def test_models_does_not_import_valuation_or_calibration(module):
    source = (PACKAGE / f"{module}.py").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from|import)\s+(valuation|calibration)\b", source, re.M)


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(f"models.{module}"), verbose=False)
    assert result.failed == 0


def test_no_pickle_in_models():
    for path in PACKAGE.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import)\s+(pickle|joblib|cloudpickle)\b", source, re.M)
