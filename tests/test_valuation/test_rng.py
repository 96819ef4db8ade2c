"""Philox4x32-10 against the Random123 known-answer vectors and a plain-Python twin."""

from __future__ import annotations

import numpy as np
import pytest

from valuation.kernels.rng import (
    entity_key,
    philox4x32,
    seed_key,
    uniforms4,
    uniforms_block,
    uniforms_lanes,
)
from valuation.kernels.stress import fast_normals4 as normals4

# Random123 distribution, tests/kat_vectors, "philox4x32 10" lines:
# counter words 0-3, key words 0-1 -> output words 0-3 (hex).
KAT = [
    (
        "00000000 00000000 00000000 00000000",
        "00000000 00000000",
        "6627e8d5 e169c58d bc57ac4c 9b00dbd8",
    ),
    (
        "ffffffff ffffffff ffffffff ffffffff",
        "ffffffff ffffffff",
        "408f276d 41c83b0e a20bc7c6 6d5451fd",
    ),
    (
        "243f6a88 85a308d3 13198a2e 03707344",
        "a4093822 299f31d0",
        "d16cfe09 94fdcceb 5001e420 24126ea1",
    ),
]


def words(text: str) -> list[int]:
    return [int(w, 16) for w in text.split()]


def philox_python(counter: list[int], key: list[int]) -> list[int]:
    """Plain-integer Philox4x32-10, straight from Salmon et al. (2011)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    mask = 0xFFFFFFFF
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & mask, (p0 >> 32) ^ c3 ^ k1, p0 & mask
        k0 = (k0 + 0x9E3779B9) & mask
        k1 = (k1 + 0xBB67AE85) & mask
    return [c0, c1, c2, c3]


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_known_answer_vectors(counter: str, key: str, expected: str) -> None:
    c = [np.uint64(w) for w in words(counter)]
    k = [np.uint64(w) for w in words(key)]
    assert [int(x) for x in philox4x32(*c, *k)] == words(expected)
    assert philox_python(words(counter), words(key)) == words(expected)


def test_kernel_equals_python_twin_on_random_inputs() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        c = [int(x) for x in rng.integers(0, 2**32, 4)]
        k = [int(x) for x in rng.integers(0, 2**32, 2)]
        got = philox4x32(*[np.uint64(x) for x in c], *[np.uint64(x) for x in k])
        assert [int(x) for x in got] == philox_python(c, k)


def test_normals_have_standard_moments() -> None:
    n = 50_000
    z = np.array(
        [normals4(np.uint64(9), np.uint64(123), np.uint64(p), np.uint64(0)) for p in range(n)]
    ).ravel()
    size = z.size
    assert abs(z.mean()) < 4 / np.sqrt(size)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / size)
    assert abs((z**3).mean()) < 4 * np.sqrt(15 / size)
    assert abs((z**4).mean() - 3) < 4 * np.sqrt(96 / size)
    # the four lanes of one block are uncorrelated
    lanes = z.reshape(n, 4)
    corr = np.corrcoef(lanes.T)
    assert np.all(np.abs(corr[np.triu_indices(4, 1)]) < 4 / np.sqrt(n))


def test_uniforms_are_open_interval_and_uniform() -> None:
    u = np.array(
        [uniforms4(np.uint64(1), np.uint64(2), np.uint64(p), np.uint64(3)) for p in range(20_000)]
    ).ravel()
    assert u.min() > 0 and u.max() < 1
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    expected = u.size / 10
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 27.9  # chi-square(9) 0.999 quantile


def test_streams_differ_by_seed_entity_path_and_block() -> None:
    base = normals4(np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4))
    for args in [(7, 2, 3, 4), (1, 8, 3, 4), (1, 2, 9, 4), (1, 2, 3, 5)]:
        assert normals4(*[np.uint64(a) for a in args]) != base


def test_entity_key_is_stable() -> None:
    # BLAKE2b-64 of the UTF-8 id: fixed forever, or every stored result stops reproducing
    assert entity_key("SH-DP-2025-000123") == entity_key("SH-DP-2025-000123")
    assert entity_key("a") != entity_key("b")
    assert 0 <= entity_key("数据产品") < 2**64


def test_seed_key_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="seed"):
        seed_key(-1)
    with pytest.raises(ValueError, match="seed"):
        seed_key(2**64)


def test_vectorised_uniforms_are_the_scalar_uniforms() -> None:
    """uniforms_block (consecutive paths) and uniforms_lanes (a list of path and block
    counters) give uniforms4's numbers, bit for bit."""
    rng = np.random.default_rng(3)
    seed, entity, path0 = np.uint64(2**40 + 17), np.uint64(2**63 + 5), np.uint64(2**32 - 9)
    block = np.empty((4, 20))
    uniforms_block(seed, entity, path0, 20, np.uint64(7), block)
    n = 300
    paths = rng.integers(0, 128, n)
    blocks = rng.integers(0, 2**31, n)
    lanes = np.empty((4, n + 5))
    uniforms_lanes(seed, entity, path0, paths, blocks, n, lanes)
    for j in range(20):
        assert tuple(block[:, j]) == uniforms4(seed, entity, path0 + np.uint64(j), np.uint64(7))
    for t in range(n):
        # the path counter is 32 bits: path0 + 120 wraps past 2**32 as in uniforms4's counter
        path = np.uint64((int(path0) + int(paths[t])) % 2**32)
        assert tuple(lanes[:, t]) == uniforms4(seed, entity, path, np.uint64(blocks[t]))
