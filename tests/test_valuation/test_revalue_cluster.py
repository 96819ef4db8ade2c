"""``dpv revalue`` survives being killed: a SIGKILLed run resumed, a Dask worker killed mid-run;
either way the published bytes are those of an uninterrupted run on one machine, whatever the
thread count or the engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from valuation.calibration_set import DEFAULT_SET
from valuation.cli import main
from valuation.revalue import ChunkDone, revalue
from valuation.revalue.ledger import LEDGER, Ledger
from valuation.revalue.run import STAGING

SAMPLE = Path(DEFAULT_SET).parents[1] / "sample" / "products.jsonl"
ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2026-06-30"
N_PRODUCTS = 120
PATHS = 1000  # four grains of the stress kernel: the loans run on several threads


def _published(out: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    summary = json.loads(files.pop("summary.json"))
    summary.pop("seconds")
    files["summary.json"] = json.dumps(summary, sort_keys=True).encode()
    return files


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("book")
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:N_PRODUCTS]
    lines[17] = lines[17].replace('"category":', '"category": 5, "x":', 1)  # quarantined
    products = folder / "products.jsonl"
    products.write_text("\n".join(lines) + "\n", encoding="utf-8")
    loans = folder / "loans.csv"
    rows = ["product_id,amount,tenor_months,annual_rate,amortization,annual_pd"]
    for i, line in enumerate(lines):
        if i % 4 == 0 and i != 17:
            product_id = json.loads(line)["product_id"]
            rows.append(
                f"{product_id},{300_000 + 50_000 * (i % 9)},{12 + i % 25},0.05,annuity,0.02"
            )
    loans.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return products, loans


@pytest.fixture(scope="module")
def reference(book: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    products, loans = book
    out = tmp_path_factory.mktemp("reference") / "out"
    result = revalue(products, out, as_of=AS_OF, loans=loans, paths=PATHS, chunk_size=1000)
    assert result.exit_code == 3
    assert result.summary["rows"]["quarantined"] == 1
    return out


def test_sigkill_then_resume_is_byte_identical(
    book: tuple[Path, Path], reference: Path, tmp_path: Path
) -> None:
    """A run on one thread killed with SIGKILL, resumed on this process's threads."""
    products, loans = book
    out = tmp_path / "out"
    args = ["revalue", str(products), "--out", str(out), "--loans", str(loans), "--as-of", AS_OF,
            "--paths", str(PATHS), "--chunk-size", "2"]  # fmt: skip
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "valuation", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ledger_path = out / STAGING / LEDGER
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and child.poll() is None:
        try:
            done = len(Ledger.read(ledger_path).chunks)
        except Exception:  # not written yet, or being replaced
            done = 0
        if done >= 3:
            break
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert 3 <= done < N_PRODUCTS // 2, "the child was not killed mid-run"
    assert not (out / "summary.json").exists()
    assert main([*args, "--resume"]) == 3
    assert _published(out) == _published(reference)
    assert not (out / STAGING).exists()


def test_a_killed_dask_worker_loses_and_duplicates_nothing(
    book: tuple[Path, Path], reference: Path, tmp_path: Path
) -> None:
    from distributed import Client, LocalCluster

    products, loans = book
    out = tmp_path / "out"
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        killed: list[int] = []
        victim = sorted(client.run(os.getpid).values())[0]

        def kill_a_worker(done: ChunkDone) -> None:
            if not killed:  # after the first chunk, with the next ones in flight
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        result = revalue(products, out, as_of=AS_OF, loans=loans, paths=PATHS, chunk_size=10,
                         engine="dask", scheduler=cluster.scheduler_address,
                         on_chunk=kill_a_worker)  # fmt: skip
        assert killed
        assert result.exit_code == 3
        client.wait_for_workers(2, timeout=60)  # the nanny started a new one
        assert victim not in client.run(os.getpid).values()
    assert _published(out) == _published(reference)


def test_local_dask_cluster_from_the_command_line(
    book: tuple[Path, Path], reference: Path, tmp_path: Path
) -> None:
    products, loans = book
    out = tmp_path / "out"
    code = main(["revalue", str(products), "--out", str(out), "--loans", str(loans),
                 "--as-of", AS_OF, "--paths", str(PATHS), "--chunk-size", "17",
                 "--engine", "dask", "--workers", "2"])  # fmt: skip
    assert code == 3
    assert _published(out) == _published(reference)


def test_one_thread_gives_the_bytes_of_two(
    book: tuple[Path, Path], reference: Path, tmp_path: Path
) -> None:
    """The reference ran in this process on every core; the same run on one numba thread."""
    products, loans = book
    out = tmp_path / "out"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    args = ["revalue", str(products), "--out", str(out), "--loans", str(loans), "--as-of", AS_OF,
            "--paths", str(PATHS), "--chunk-size", "50"]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "valuation", *args], env=env, check=False)
    assert done.returncode == 3
    assert _published(out) == _published(reference)


def test_a_check_failing_while_the_cluster_starts_closes_it(
    book: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cluster starts beside the reading of the inputs: bad loans exit 2, write nothing,
    and leave no worker process behind; an unreachable scheduler exits 2 too."""
    import multiprocessing
    import warnings

    products, _ = book
    loans = tmp_path / "loans.csv"
    loans.write_text("product_id,amount,tenor_months\nP-1,-5,12\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["revalue", str(products), "--out", str(out), "--loans", str(loans),
                 "--engine", "dask", "--workers", "1"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "loans.csv" in err and "amount" in err
    assert not out.exists()
    deadline = time.monotonic() + 30
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not multiprocessing.active_children()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's own retry warnings
        code = main(["revalue", str(products), "--out", str(out), "--engine", "dask",
                     "--scheduler", "tcp://127.0.0.1:9"])  # fmt: skip
    assert code == 2
    assert "--scheduler: cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not out.exists()
