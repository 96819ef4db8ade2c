"""``dpv pledge`` and ``dpv reproduce``: outputs, bad input, bit-identical results on 1 and 2
threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_valuation import pledges
from tests.test_valuation.pledges import product, request
from valuation.cli import main
from valuation.examples import example_registry_path


def _write(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc, ensure_ascii=False))
    return str(path)


def test_pledge_writes_assessment_and_memo(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    req = _write(tmp_path / "req.json", pledges.example(amount=3_000_000.0))
    out = tmp_path / "out"
    args = ["pledge", req, "--registry", example_registry_path(), "--out", str(out), "--json"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["assessment.json", "memo.html"]
    filed = json.loads((out / "assessment.json").read_text())
    assert filed == printed
    required = {
        "request_id",
        "decision",
        "reasons",
        "grade",
        "collateral",
        "collateral_value",
        "ltv",
        "max_loan",
        "stress",
        "scenarios",
        "escalate",
        "audit",
    }
    assert required <= set(filed)
    assert {"product_id", "eligible", "reasons", "valuation"} <= set(filed["collateral"][0])
    assert {"policy", "risk"} <= set(filed["max_loan"])
    assert {"breach_probability", "default_probability", "expected_loss", "lgd"} <= set(
        filed["stress"]
    )
    assert {"loss_var", "loss_es"} <= set(filed["stress"])
    assert filed["decision"] == "approve"
    # nothing else left next to the output folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "req.json"]


def test_policy_file_and_overrides_are_applied_and_audited(tmp_path: Path):
    req = _write(tmp_path / "req.json", pledges.example(amount=3_000_000.0))
    policy = _write(
        tmp_path / "policy.json", {"max_ltv": 0.04}
    )  # policy max 0.04 x ~36m < half of 3m
    out = tmp_path / "out"
    args = ["pledge", req, "--registry", example_registry_path(), "--out", str(out)]
    assert main([*args, "--policy", policy, "--paths", "1500", "--seed", "11"]) == 0
    filed = json.loads((out / "assessment.json").read_text())
    assert filed["policy"]["max_ltv"] == 0.04
    assert filed["audit"]["request"]["policy"]["max_ltv"] == 0.04
    assert filed["audit"]["paths"] == 1500 and filed["audit"]["seed"] == 11
    assert filed["decision"] == "decline"
    assert [r["code"] for r in filed["reasons"]] == ["max_loan_below_minimum"]
    assert main(["reproduce", str(out / "assessment.json")]) == 0


BAD_INPUT = [
    ("loan.amount", lambda d: d["loan"].update(amount=0)),
    ("loan.amount", lambda d: d["loan"].update(amount=-5)),
    ("loan.tenor_months", lambda d: d["loan"].update(tenor_months=0)),
    ("collateral", lambda d: d.update(collateral=[])),
    ("collateral[0].product_id", lambda d: d.update(collateral=[{"product_id": "NOPE"}])),
    ("policy.max_ltv", lambda d: d["policy"].update(max_ltv=1.5)),
    ("policy.target_breach_probability", lambda d: d["policy"].update(target_breach_probability=0)),
    ("policy.confidence", lambda d: d["policy"].update(confidence=1.0)),
    ("simulation.paths", lambda d: d["simulation"].update(paths=0)),
    ("borrower.annual_pd", lambda d: d["borrower"].update(annual_pd=1.0)),
    ("loan.colour", lambda d: d["loan"].update(colour="red")),
]


@pytest.mark.parametrize(("field", "edit"), BAD_INPUT, ids=[f for f, _ in BAD_INPUT])
def test_bad_request_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, edit: Any
):
    doc = request([{"product": product("P1")}])
    edit(doc)
    req = _write(tmp_path / "req.json", doc)
    out = tmp_path / "out"
    args = ["pledge", req, "--out", str(out), "--registry", example_registry_path()]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"req.json: {field}: " in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["req.json"]


@pytest.mark.parametrize(
    ("policy", "field"),
    [({"max_ltv": 0}, "max_ltv"), ({"internal_valuation_limit": -1}, "internal_valuation_limit")],
)
def test_bad_policy_file_exits_2_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: dict, field: str
):
    req = _write(tmp_path / "req.json", request([{"product": product("P1")}]))
    pol = _write(tmp_path / "policy.json", policy)
    out = tmp_path / "out"
    assert main(["pledge", req, "--policy", pol, "--out", str(out)]) == 2
    assert f"policy.json: {field}: " in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(("option", "value"), [("--paths", "0"), ("--seed", "-1")])
def test_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
):
    req = _write(tmp_path / "req.json", request([{"product": product("P1")}]))
    out = tmp_path / "out"
    assert main(["pledge", req, option, value, "--out", str(out)]) == 2
    assert option in capsys.readouterr().err
    assert not out.exists()


def test_missing_registry_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    req = _write(tmp_path / "req.json", pledges.example())
    out = tmp_path / "out"
    assert main(["pledge", req, "--registry", str(tmp_path / "nope.jsonl"), "--out", str(out)]) == 2
    assert "nope.jsonl: file not found" in capsys.readouterr().err
    assert not out.exists()


def test_registry_as_json_lines(tmp_path: Path):
    lines = "\n".join(json.dumps(p.model_dump(mode="json")) for p in pledges.registry())
    registry = tmp_path / "registry.jsonl"
    registry.write_text(lines + "\n")
    req = _write(tmp_path / "req.json", pledges.example(amount=3_000_000.0, paths=500))
    assert main(["pledge", req, "--registry", str(registry), "--out", str(tmp_path / "o")]) == 0


def _run(tmp_path: Path, name: str, threads: str, req: str) -> bytes:
    out = tmp_path / name
    env = {**os.environ, "NUMBA_NUM_THREADS": threads}
    registry = example_registry_path()
    command = [sys.executable, "-m", "valuation", "pledge", req, "--registry", registry]
    done = subprocess.run(
        [*command, "--out", str(out), "--paths", "3000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return (out / "assessment.json").read_bytes()


def test_bit_identical_across_runs_and_thread_counts_and_reproduced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    req = _write(tmp_path / "req.json", pledges.example(amount=7_500_000.0))
    one = _run(tmp_path, "t1", "1", req)
    two = _run(tmp_path, "t2", "2", req)
    assert one == two
    assert main(["reproduce", str(tmp_path / "t2" / "assessment.json")]) == 0
    assert "reproduced bit for bit" in capsys.readouterr().out
    edited = json.loads(one)
    edited["scenarios"][2]["loss_es"] *= 1.0000001
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited, indent=2))
    assert main(["reproduce", str(path)]) == 1
    assert "scenarios[2].loss_es" in capsys.readouterr().out


def test_reproduce_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = _write(tmp_path / "x.json", {"decision": "approve"})
    assert main(["reproduce", path]) == 2
    assert "x.json: audit: " in capsys.readouterr().err


def test_invalid_registry_entry_names_file_and_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    docs = [p.model_dump(mode="json") for p in pledges.registry()]
    docs[1]["certificate"]["status"] = "lost"
    registry = _write(tmp_path / "registry.json", docs)
    req = _write(tmp_path / "req.json", pledges.example())
    out = tmp_path / "out"
    assert main(["pledge", req, "--registry", registry, "--out", str(out)]) == 2
    assert "registry.json: [1].certificate.status: " in capsys.readouterr().err
    assert not out.exists()
