"""The command line says when it compiles the kernels (once per install) and when it draws a
large range sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from valuation.cli import main
from valuation.cli._progress import MSG_COMPILING, announce_first_compile, kernels_compiled
from valuation.examples import example_path


def test_an_empty_cache_is_announced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DPV_CACHE_DIR", str(tmp_path / "fresh"))
    assert not kernels_compiled()
    announce_first_compile()
    assert MSG_COMPILING in capsys.readouterr().err
    assert not (tmp_path / "fresh").exists()  # only looked at


def test_a_filled_cache_is_not_announced(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["value", example_path("data_product"), "--as-of", "2026-11-01", "--samples", "0"]
    assert main(args) == 0  # compiles (or loads) the kernels into the cache
    capsys.readouterr()
    assert kernels_compiled()
    assert main(args) == 0
    assert MSG_COMPILING not in capsys.readouterr().err


def test_large_range_samples_are_announced(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["value", example_path("data_product"), "--as-of", "2026-11-01", "--json"]
    assert main([*args, "--samples", "200000"]) == 0
    assert "sampling the range with 200,000 draws" in capsys.readouterr().err
    assert main([*args, "--samples", "2000"]) == 0
    assert "sampling" not in capsys.readouterr().err


def test_long_simulations_are_announced(capsys: pytest.CaptureFixture[str]) -> None:
    from valuation.cli._progress import LONG_PATH_STEPS, announce_long_simulation

    announce_long_simulation("stress", LONG_PATH_STEPS - 1)
    assert capsys.readouterr().err == ""
    announce_long_simulation("stress", 3 * 10**9)
    assert "dpv stress: simulating 3e+09 path-steps (about 20 s" in capsys.readouterr().err
