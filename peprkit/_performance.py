"""Performance from labels alone: majority-class baseline, balanced accuracy, ROC AUC.

Re-exported by :mod:`peprkit.metric`; the training loop scores every epoch with these. Only
numpy is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peprkit._validation import check_same_length

__all__ = ["auc", "balanced_accuracy", "majority_accuracy"]


def _labels(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 1-D sequence of class labels, got shape {arr.shape}; "
            "pass one label per image."
        )
    return arr


def majority_accuracy(train_labels: Any, test_labels: Any) -> float:
    """Test accuracy of always answering the training split's most common class.

    ``majority_acc = mean(test_labels == mode(train_labels))``: the baseline every test
    accuracy must beat (ties go to the smallest label). For multi-label tasks (2-D label
    arrays) each label gets its own most common value and the result is the mean
    per-label accuracy, as ``test_acc`` is there.

    >>> majority_accuracy([0, 0, 1], [0, 1, 0, 0])
    0.75
    """
    train, test = np.asarray(train_labels), np.asarray(test_labels)
    if train.ndim == 2 and train.shape[1] > 1:  # multi-label
        guess = (train.mean(axis=0) > 0.5).astype(test.dtype)
        return float((test == guess).mean())
    train, test = _labels(train, "train_labels"), _labels(test, "test_labels")
    values, counts = np.unique(train, return_counts=True)
    return float((test == values[counts.argmax()]).mean())


def balanced_accuracy(y_true: Any, y_pred: Any) -> float:
    """Mean per-class recall: ``mean over classes c of (correct in c) / (images in c)``.

    Classes absent from ``y_true`` are skipped. A constant guess scores ``1 / classes``
    (0.5 on a binary task) however unbalanced the test split is.

    >>> balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0])
    0.5
    """
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    check_same_length(t, p, ("y_true", "y_pred"))
    recalls = [float((p[t == c] == c).mean()) for c in np.unique(t)]
    return float(np.mean(recalls))


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given their average rank."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2.0)[inverse.ravel()]


def _binary_auc(y: np.ndarray, score: np.ndarray) -> float:
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = _ranks(score)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc(y_true: Any, score: Any) -> float:
    """ROC AUC by ranks (Mann-Whitney): ``(sum of positive ranks - n1(n1+1)/2) / (n1 n0)``.

    - ``score`` 1-D: ``y_true`` is binary (truthy = positive) and ``score`` the positive
      class's score.
    - ``score`` 2-D ``(n, classes)`` (e.g. softmax probabilities): one-vs-rest macro AUC,
      the mean over classes c present in ``y_true`` (and not all of it) of the AUC of
      ``score[:, c]`` for "class c vs the rest". With two classes this is the AUC of
      ``score[:, 1]``.

    Ties get average ranks; NaN when a class needed is absent. 0.5 is chance.

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> auc([0, 1, 2], [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    1.0
    """
    s = np.asarray(score, dtype=float)
    if s.ndim <= 1:
        return _binary_auc(np.asarray(y_true).astype(bool).ravel(), s.ravel())
    if s.ndim != 2:
        raise ValueError(f"`score` must be 1-D or (n, classes), got shape {s.shape}.")
    t = _labels(y_true, "y_true").astype(int)
    if s.shape[1] == 2:
        return _binary_auc(t == 1, s[:, 1])
    per_class = [_binary_auc(t == c, s[:, c]) for c in range(s.shape[1])]
    per_class = [a for a in per_class if a == a]
    return float(np.mean(per_class)) if per_class else float("nan")
