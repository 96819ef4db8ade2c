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

Models this kernel does not follow (categorical splits, linear trees, more than one tree per
iteration, an output transform other than the plain regression's identity, averaged output)
give None: their callers keep LightGBM. ``tests/test_valuation/test_trees.py`` checks the
bits against LightGBM on rows with NaN, zeros and tiny values.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from valuation.kernels._jit import jit

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
    n, m = X.shape
    rows = np.empty((n, m))
    for r in range(n):
        for c in range(m):
            v = X[r, c]
            rows[r, c] = 0.0 if -ZERO_THRESHOLD <= v <= ZERO_THRESHOLD else v
    for r in range(n):
        out[r] = 0.0
    # one tree at a time over every row: the tree stays in cache; each row's sum still runs
    # over the trees in order
    for t in range(feature.shape[0]):
        for r in range(n):
            node = 0 if left[t, 0] != ~0 or right[t, 0] != ~0 else ~0
            while node >= 0:
                x = rows[r, feature[t, node]]
                d = decision[t, node]
                missing = (d >> 2) & 3
                nan = np.isnan(x)
                if nan and missing != _MISSING_NAN:
                    x = 0.0
                    nan = False
                if (missing == _MISSING_ZERO and x == 0.0) or (missing == _MISSING_NAN and nan):
                    go_left = (d & _DEFAULT_LEFT) != 0
                else:
                    go_left = x <= threshold[t, node]
                node = left[t, node] if go_left else right[t, node]
            out[r] += leaf[t, ~node]


def predict_ensemble(ensemble: TreeEnsemble, X: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the raw score of each row of ``X``: what LightGBM's ``predict`` gives."""
    rows = np.ascontiguousarray(X, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != ensemble.n_features:
        raise ValueError(
            f"the ensemble takes rows of {ensemble.n_features} features, got shape {rows.shape}"
        )
    out = np.empty(rows.shape[0], dtype=np.float64)
    _predict(rows, *ensemble[:6], out)
    return out


def warmup() -> None:
    """Compile the kernel on a one-tree ensemble (a split and two leaves)."""
    text = (
        "tree\nnum_tree_per_iteration=1\nobjective=regression\nmax_feature_idx=0\n\nTree=0\n"
        "num_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.5\ndecision_type=10\n"
        "left_child=-1\nright_child=-2\nleaf_value=1 2\nis_linear=0\n\nend of trees\n"
    )
    ensemble = compile_ensemble(text)
    assert ensemble is not None
    predict_ensemble(ensemble, np.array([[0.0], [1.0], [np.nan]]))


__all__ = ["ZERO_THRESHOLD", "TreeEnsemble", "compile_ensemble", "predict_ensemble", "warmup"]
