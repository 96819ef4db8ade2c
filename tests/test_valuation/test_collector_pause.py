"""The cyclic garbage collector is paused for a batch and resumed as it was found, also when
batches nest, overlap in threads or raise."""

from __future__ import annotations

import datetime as dt
import gc
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from valuation import value_many
from valuation._gc import collector_paused
from valuation.calibration_set import DEFAULT_SET, load_calibration
from valuation.revalue.chunk import ChunkContext, value_chunk

SAMPLE = Path(DEFAULT_SET).parents[1] / "sample" / "products.jsonl"


@pytest.fixture(autouse=True)
def collector_running() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_inside_resumed_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_resumed_after_an_error() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_stopped_collector_stays_stopped() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_nested_blocks_resume_at_the_outermost() -> None:
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_threads_resume_when_the_last_leaves() -> None:
    entered = threading.Event()
    release = threading.Event()
    seen: list[bool] = []

    def batch() -> None:
        with collector_paused():
            entered.set()
            release.wait(10)
            seen.append(gc.isenabled())

    worker = threading.Thread(target=batch)
    with collector_paused():
        worker.start()
        assert entered.wait(10)
    # this thread's block has ended; the worker's has not
    assert not gc.isenabled()
    release.set()
    worker.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_batches_leave_the_collector_running() -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:3]
    assert len(value_many([json.loads(line) for line in lines], as_of="2026-06-30")) == 3
    assert gc.isenabled()
    cal = load_calibration(None)
    context = ChunkContext(
        as_of=dt.date(2026, 6, 30),
        seed=1,
        calibration_id=cal.id,
        parameters_override=cal.valuation_overrides,
        market_model=cal.market_model(),
    )
    batch = pa.record_batch(
        {"line": pa.array([1, 2, 3], pa.int64()), "product": pa.array(lines, pa.string())}
    )
    assert value_chunk(batch, context).values.num_rows == 3
    assert gc.isenabled()
