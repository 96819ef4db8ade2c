"""``--help`` reads as plain text: no Sphinx markup, no Python type names, no bare "(overrides)"."""

from __future__ import annotations

import re

import pytest

from valuation.cli import command, main

COMMANDS = sorted(command().commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["", *COMMANDS])
def test_help_is_plain_text(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"] if name else ["--help"]) == 0
    text = capsys.readouterr().out
    assert "Usage: dpv" in text
    for pattern in (r"``", r":(mod|func|class|meth|data|attr):`", r"<(str|int|float|path)>"):
        assert not re.search(pattern, text), (name, pattern, text)
    assert "(overrides)" not in text


def test_every_command_is_listed() -> None:
    assert {"value", "stress", "pledge", "calibrate", "backtest", "synth", "reproduce"} <= set(
        COMMANDS
    )
