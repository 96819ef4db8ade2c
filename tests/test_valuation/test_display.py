"""Ids and names on the terminal: an id the schema accepts prints without control sequences, and
a name is kept as given but shown escaped."""

from __future__ import annotations

import copy
import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from tests.test_valuation import pledges
from valuation.cli import main
from valuation.display import terminal_safe
from valuation.examples import example_path, example_registry_path
from valuation.schema._base import Identifier

IDS = TypeAdapter(Identifier)
# What a terminal or a bidi algorithm acts on: C0/C1 controls and DEL, and the explicit
# directional formatting characters of Unicode's bidi algorithm (UAX #9, table 4).
BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def _controls(text: str) -> list[str]:
    return [ch for ch in text if unicodedata.category(ch) == "Cc" or ord(ch) in BIDI]


def _output_controls(text: str) -> list[str]:
    """Control characters in printed output other than its line breaks."""
    return _controls(text.replace("\n", ""))


# Text drawn from every plane, with the dangerous characters over-represented.
hostile = st.text(
    st.one_of(
        st.characters(),
        st.sampled_from(["\x00", "\x1b", "\x07", "\x7f", "\x85", "\u202e", "\u2066", "\u200f"]),
        st.sampled_from(["[", "]", "J", ";", "数", "-", " "]),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(hostile)
def test_any_id_the_schema_accepts_prints_without_control_sequences(text: str) -> None:
    try:
        accepted = IDS.validate_python(text)
    except ValidationError:
        return
    assert _controls(accepted) == []
    assert terminal_safe(accepted) == accepted  # nothing to escape: it prints as stored
    assert accepted == accepted.strip()


@settings(max_examples=400, deadline=None)
@given(hostile)
def test_terminal_safe_leaves_no_control_sequence(text: str) -> None:
    shown = terminal_safe(text)
    assert _controls(shown) == []
    # only the unsafe characters change: the safe text is kept, in order
    kept = [ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    assert all(ch in shown for ch in kept)
    if not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in text):
        assert shown == text


@pytest.mark.parametrize(
    "bad",
    ["ZJ-\u202e780000-5202-AD\u202c", "P-\x001", "C-\x1b]0;pwned\x07", "A\u2066B", " P-1", "P-1\n"],
)
def test_ids_with_controls_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        IDS.validate_python(bad)


def test_chinese_ids_and_inner_spaces_are_accepted() -> None:
    for good in ("ZJ-DA-2025-000087", "教育数据-1", "P 1", "Ölprodukt-7"):
        assert IDS.validate_python(good) == good


def test_value_table_shows_a_hostile_name_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(Path(example_path("data_product")).read_text())
    doc["name"] = "DEN\u202eILCED \x1b[2J[bold red]x[/]"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    assert main(["value", str(path), "--as-of", "2026-11-01", "--samples", "0"]) == 0
    out = capsys.readouterr().out
    assert _output_controls(out) == []
    assert "DEN\\u202eILCED" in out and "\\x1b[2J" in out
    assert "[bold red]x[/]" in out  # shown as typed, not as rich markup
    # the JSON result keeps the name as given
    assert main(["value", str(path), "--as-of", "2026-11-01", "--samples", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == doc["name"]


def test_pledge_summary_shows_a_hostile_borrower_name_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(pledges.example(paths=1000))
    doc["borrower"]["name"] = "\u202eDENILCED\x1b[31m"
    path = tmp_path / "req.json"
    path.write_text(json.dumps(doc))
    argv = [
        "pledge",
        str(path),
        "--registry",
        example_registry_path(),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert _output_controls(captured.out) == [] and _output_controls(captured.err) == []
