"""The README's commands name files that exist, and its policy example is a valid policy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from valuation.cli import main
from valuation.schema._base import parse_model
from valuation.schema.pledge import Policy

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_example_file_the_readme_names_exists() -> None:
    named = set(re.findall(r"valuation/examples/[\w.-]+\.json", README))
    assert {"valuation/examples/bank-policy.json", "valuation/examples/pledge.json"} <= named
    for path in sorted(named):
        assert (ROOT / path).is_file(), path
    # no command reads a file the repository does not hold
    for bare in ("product.json |", "request.json --policy", " bank-policy.json"):
        assert bare not in README, bare


def test_policy_example_is_a_policy_and_documented() -> None:
    doc = json.loads((ROOT / "valuation/examples/bank-policy.json").read_text(encoding="utf-8"))
    policy = parse_model(Policy, doc)
    assert set(doc) == set(Policy.model_fields)  # the example shows every field
    assert policy.max_ltv == doc["max_ltv"]
    for field in Policy.model_fields:
        assert f"`{field}`" in README, field
    block = README.split("**The policy file**")[1].split("```json")[1].split("```")[0]
    parse_model(Policy, json.loads(block))


def test_readme_pledge_command_with_the_policy_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    existed = (ROOT / "pledge-output").exists()
    argv = [
        "pledge",
        "valuation/examples/pledge.json",
        "--registry",
        "valuation/examples/registry.json",
        "--policy",
        "valuation/examples/bank-policy.json",
        "--paths",
        "2000",
        "--json",
    ]
    assert main(argv) == 0
    assessment = json.loads(capsys.readouterr().out)
    assert assessment["audit"]["request"]["policy"]["max_ltv"] == 0.4
    assert (ROOT / "pledge-output").exists() == existed  # --json alone writes nothing
