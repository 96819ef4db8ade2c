"""LightGBM's tree ensembles evaluated by a compiled kernel, bit for bit as LightGBM does.

The market method predicts tens of rows of the hedonic model for every product valued from
the deal history (its adjustment factors); LightGBM's own prediction spends most of its time
per row outside the trees. :func:`compile_ensemble` reads a model's text (``model_to_string``)
into flat arrays and :func:`predict_ensemble` walks every tree for a block of rows, one tree at
a time, with LightGBM's arithmetic:

* each value with ``|x| <= kZeroThreshold`` (``1e-35f``) is 0, as LightGBM's dense-row reader
  drops it;
* at a numerical split, a NaN becomes 0 unless the split's missing type is NaN; a missing value
  (zero for missing type Zero, NaN for missing type NaN) goes the split's default way, any
  other value left when ``x <= threshold``;
* the raw score is the sum of the leaf values (shrinkage already in them) in tree order,
  from 0.0, in double precision.

The market method's factors predict a deal's row with one feature moved to the product's
value, many times over. :func:`ensemble_paths` keeps, for each row, the leaf it reaches in each
tree and the features its path there reads; :func:`predict_moved` then walks only the trees
whose path reads the moved feature (the others end in the same leaf) and still sums every
tree's leaf in order, so its scores are a full walk's, bit for bit.

Models this kernel does not follow (categorical splits, linear trees, more than one tree per
iteration, an output transform other than the plain regression's identity, averaged output)
give None: their callers keep LightGBM. ``tests/test_valuation/test_trees.py`` checks the
bits against LightGBM on rows with NaN, zeros and tiny values.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from valuation.kernels._jit import jit, jit_inner

ZERO_THRESHOLD = float(np.float32(1e-35))
"""LightGBM's ``kZeroThreshold`` (a float literal, widened to double)."""
_MISSING_ZERO = 1
_MISSING_NAN = 2
_DEFAULT_LEFT = 2
_SUPPORTED_OBJECTIVES = (None, "regression")


class TreeEnsemble(NamedTuple):
    """A tree ensemble as flat arrays (one row per tree, padded to the widest tree).

    ``feature``, ``threshold``, ``decision``, ``left``, ``right`` describe the internal nodes
    (LightGBM's ``split_feature``, ``threshold``, ``decision_type``, ``left_child``,
    ``right_child``: a child ``c < 0`` is leaf ``~c``); ``leaf`` the leaf values. A tree of one
    leaf has no internal node: its ``left[t, 0]`` is ``~0``, so the walk ends at once.
    """

    feature: NDArray[np.int64]
    threshold: NDArray[np.float64]
    decision: NDArray[np.int64]
    left: NDArray[np.int64]
    right: NDArray[np.int64]
    leaf: NDArray[np.float64]
    n_features: int


def compile_ensemble(model_text: str) -> TreeEnsemble | None:
    """Read a LightGBM model's text into a :class:`TreeEnsemble`; None if not supported."""
    header: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    current = header
    for line in model_text.splitlines():
        if line.startswith("Tree="):
            current = {}
            trees.append(current)
        elif line.startswith("end of trees"):
            break
        elif "=" in line:
            key, value = line.split("=", 1)
            current[key] = value
        elif line.strip() == "average_output":
            return None
    if (
        not trees
        or header.get("num_tree_per_iteration", "1") != "1"
        or header.get("objective") not in _SUPPORTED_OBJECTIVES
    ):
        return None
    width = max(max(int(t["num_leaves"]) for t in trees) - 1, 1)
    n = len(trees)
    feature = np.zeros((n, width), dtype=np.int64)
    threshold = np.zeros((n, width), dtype=np.float64)
    decision = np.zeros((n, width), dtype=np.int64)
    left = np.full((n, width), ~0, dtype=np.int64)
    right = np.full((n, width), ~0, dtype=np.int64)
    leaf = np.zeros((n, width + 1), dtype=np.float64)
    for i, tree in enumerate(trees):
        if tree.get("num_cat", "0") != "0" or tree.get("is_linear", "0") != "0":
            return None
        leaves = int(tree["num_leaves"])
        # float() reads the 17 significant digits LightGBM writes back to the same double
        leaf[i, :leaves] = [float(v) for v in tree["leaf_value"].split()]
        if leaves > 1:
            nodes = leaves - 1
            feature[i, :nodes] = [int(v) for v in tree["split_feature"].split()]
            threshold[i, :nodes] = [float(v) for v in tree["threshold"].split()]
            decision[i, :nodes] = [int(v) for v in tree["decision_type"].split()]
            left[i, :nodes] = [int(v) for v in tree["left_child"].split()]
            right[i, :nodes] = [int(v) for v in tree["right_child"].split()]
    if np.any(decision & 1):  # a categorical split
        return None
    n_features = int(header.get("max_feature_idx", "-1")) + 1
    return TreeEnsemble(feature, threshold, decision, left, right, leaf, n_features)


@jit_inner
def _child(x: float, d: int, threshold: float, left: int, right: int) -> int:
    """Return the child a value ``x`` goes to at a split (LightGBM's ``NumericalDecision``)."""
    missing = (d >> 2) & 3
    nan = np.isnan(x)
    if nan and missing != _MISSING_NAN:
        x = 0.0
        nan = False
    if (missing == _MISSING_ZERO and x == 0.0) or (missing == _MISSING_NAN and nan):
        return left if (d & _DEFAULT_LEFT) != 0 else right
    return left if x <= threshold else right


@jit_inner
def _leaf(
    X: NDArray[np.float64],
    r: int,
    t: int,
    moved_feature: int,
    moved_value: float,
    feature: NDArray[np.int64],
    threshold: NDArray[np.float64],
    decision: NDArray[np.int64],
    left: NDArray[np.int64],
    right: NDArray[np.int64],
) -> tuple[int, int]:
    """Return the leaf row ``r`` of ``X`` reaches in tree ``t`` and the features its path reads.

    The features as a bit set (bit ``f`` for feature ``f``). Feature ``moved_feature`` is read
    as ``moved_value`` (``-1``: no feature moved).
    """
    node = 0 if left[t, 0] != ~0 or right[t, 0] != ~0 else ~0
    used = 0
    while node >= 0:
        f = feature[t, node]
        used |= 1 << f
        x = moved_value if f == moved_feature else X[r, f]
        node = _child(x, decision[t, node], threshold[t, node], left[t, node], right[t, node])
    return ~node, used


@jit
def _predict(
    X: NDArray[np.float64],
    feature: NDArray[np.int64],
    threshold: NDArray[np.float64],
    decision: NDArray[np.int64],
    left: NDArray[np.int64],
    right: NDArray[np.int64],
    leaf: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    n = X.shape[0]
    for r in range(n):
        out[r] = 0.0
    # one tree at a time over every row: the tree stays in cache; each row's sum still runs
    # over the trees in order
    for t in range(feature.shape[0]):
        for r in range(n):
            reached, _ = _leaf(X, r, t, -1, 0.0, feature, threshold, decision, left, right)
            out[r] += leaf[t, reached]


def _zeroed(ensemble: TreeEnsemble, X: NDArray[np.float64]) -> NDArray[np.float64]:
    """``X`` as LightGBM reads it: float64 rows, ``|x| <= kZeroThreshold`` read as 0."""
    rows = np.asarray(X, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != ensemble.n_features:
        raise ValueError(
            f"the ensemble takes rows of {ensemble.n_features} features, got shape {rows.shape}"
        )
    with np.errstate(invalid="ignore"):
        return np.ascontiguousarray(np.where(np.abs(rows) <= ZERO_THRESHOLD, 0.0, rows))


def predict_ensemble(ensemble: TreeEnsemble, X: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the raw score of each row of ``X``: what LightGBM's ``predict`` gives."""
    rows = _zeroed(ensemble, X)
    out = np.empty(rows.shape[0], dtype=np.float64)
    _predict(rows, *ensemble[:6], out)
    return out


class Paths(NamedTuple):
    """Where each row ends in each tree, which features its path reads, and its score."""

    leaves: NDArray[np.int64]
    """``(n_trees, n_rows)``: the leaf each row reaches (tree-major, as the kernels read it)."""
    features: NDArray[np.int64]
    """``(n_trees, n_rows)``: bit ``f`` set when the row's path splits on feature ``f``."""
    score: NDArray[np.float64]
    """``(n_rows,)``: the raw score, as :func:`predict_ensemble` gives it."""


MAX_PATH_FEATURES = 63
"""Features a path's bit set can name (an int64 less its sign)."""


@jit
def _paths(
    X: NDArray[np.float64],
    feature: NDArray[np.int64],
    threshold: NDArray[np.float64],
    decision: NDArray[np.int64],
    left: NDArray[np.int64],
    right: NDArray[np.int64],
    leaf: NDArray[np.float64],
    leaves: NDArray[np.int64],
    features: NDArray[np.int64],
    out: NDArray[np.float64],
) -> None:
    for r in range(X.shape[0]):
        total = 0.0
        for t in range(feature.shape[0]):
            reached, used = _leaf(X, r, t, -1, 0.0, feature, threshold, decision, left, right)
            leaves[t, r] = reached
            features[t, r] = used
            total += leaf[t, reached]
        out[r] = total


@jit
def _moved(
    X: NDArray[np.float64],
    leaves: NDArray[np.int64],
    features: NDArray[np.int64],
    path_of: NDArray[np.int64],
    row: NDArray[np.int64],
    column: NDArray[np.int64],
    value: NDArray[np.float64],
    feature: NDArray[np.int64],
    threshold: NDArray[np.float64],
    decision: NDArray[np.int64],
    left: NDArray[np.int64],
    right: NDArray[np.int64],
    leaf: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    # row r of X has its paths in column path_of[r] of leaves and features
    n = row.shape[0]
    moved = np.empty(n)
    for m in range(n):
        v = value[m]
        moved[m] = 0.0 if -ZERO_THRESHOLD <= v <= ZERO_THRESHOLD else v
        out[m] = 0.0
    # one tree at a time over every moved row, as _predict; each row's sum over the trees in order
    for t in range(feature.shape[0]):
        for m in range(n):
            r = row[m]
            c = column[m]
            p = path_of[r]
            if (features[t, p] >> c) & 1:
                # the path reads the moved feature: walk the tree with the moved value
                reached, _ = _leaf(X, r, t, c, moved[m], feature, threshold, decision, left, right)
                out[m] += leaf[t, reached]
            else:
                # every split on the path reads another feature: the same leaf
                out[m] += leaf[t, leaves[t, p]]


def ensemble_paths(ensemble: TreeEnsemble, X: NDArray[np.float64]) -> Paths:
    """Return the :class:`Paths` of each row of ``X`` (its score is the ensemble's)."""
    rows = _zeroed(ensemble, X)
    n, n_trees = rows.shape[0], ensemble.feature.shape[0]
    leaves = np.empty((n_trees, n), dtype=np.int64)
    features = np.empty((n_trees, n), dtype=np.int64)
    score = np.empty(n, dtype=np.float64)
    _paths(rows, *ensemble[:6], leaves, features, score)
    return Paths(leaves, features, score)


def predict_moved(
    ensemble: TreeEnsemble,
    X: NDArray[np.float64],
    paths: Paths,
    row: NDArray[np.intp],
    column: NDArray[np.intp],
    value: NDArray[np.float64],
    path_of: NDArray[np.intp] | None = None,
) -> NDArray[np.float64]:
    """Return the score of rows of ``X`` with one feature moved, bit for bit.

    Row ``m`` is ``X[row[m]]`` with feature ``column[m]`` set to ``value[m]``; the scores are
    :func:`predict_ensemble`'s of those rows. ``paths`` are the :func:`ensemble_paths` of
    ``X``'s rows: row ``r``'s in column ``path_of[r]`` of ``paths.leaves`` and
    ``paths.features`` (by default column ``r``), so that a table of paths computed once can
    serve rows that repeat its rows, without copying it. A tree whose path for the unmoved
    row splits on other features only ends in the same leaf; only the others are walked. The
    sum still runs over every tree in order, so the score is the one a full walk gives.
    """
    if ensemble.n_features > MAX_PATH_FEATURES:
        raise ValueError(f"more than {MAX_PATH_FEATURES} features: predict the rows instead")
    rows = _zeroed(ensemble, X)
    out = np.empty(len(row), dtype=np.float64)
    if path_of is None:
        path_of = np.arange(rows.shape[0])
    elif len(path_of) != rows.shape[0]:
        raise ValueError(f"path_of has {len(path_of)} entries for {rows.shape[0]} rows")
    _moved(
        rows,
        paths.leaves,
        paths.features,
        np.asarray(path_of, dtype=np.int64),
        np.asarray(row, dtype=np.int64),
        np.asarray(column, dtype=np.int64),
        np.asarray(value, dtype=np.float64),
        *ensemble[:6],
        out,
    )
    return out


def warmup() -> None:
    """Compile the kernels on a one-tree ensemble (a split and two leaves)."""
    text = (
        "tree\nnum_tree_per_iteration=1\nobjective=regression\nmax_feature_idx=0\n\nTree=0\n"
        "num_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.5\ndecision_type=10\n"
        "left_child=-1\nright_child=-2\nleaf_value=1 2\nis_linear=0\n\nend of trees\n"
    )
    ensemble = compile_ensemble(text)
    assert ensemble is not None
    rows = np.array([[0.0], [1.0], [np.nan]])
    predict_ensemble(ensemble, rows)
    paths = ensemble_paths(ensemble, rows)
    one = np.zeros(1, dtype=np.intp)
    predict_moved(ensemble, rows, paths, one, one, np.ones(1))


__all__ = [
    "MAX_PATH_FEATURES",
    "ZERO_THRESHOLD",
    "Paths",
    "TreeEnsemble",
    "compile_ensemble",
    "ensemble_paths",
    "predict_ensemble",
    "predict_moved",
    "warmup",
]
