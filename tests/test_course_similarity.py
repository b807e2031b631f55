"""Similarity fingerprints: renamed and reordered copies and pasted masters are caught,
independently written answers are not (the default threshold comes from the distribution
printed here: ``pytest -s``)."""

from __future__ import annotations

from itertools import combinations

import pytest

pytest.importorskip("yaml")

from _course_fixtures import DAN, INDEPENDENT, MASTER_Q1  # noqa: E402

from peprkit.course import similarity as sim  # noqa: E402

SOLUTIONS = {"q1": {"c1": MASTER_Q1}}


def _answers(extra=None):
    found = {name: {"c1": code} for name, code in INDEPENDENT.items()}
    found.update(extra or {})
    return found


def test_tokens_ignore_names_values_comments_and_layout():
    a = sim.tokens("total = 0\nfor x in items:  # add\n    total += x * 2\n")
    b = sim.tokens("s=0\nfor item in data:\n    s += item*7\n\n")
    assert a == b and "V" in a and "for" in a and "N" in a
    assert sim.tokens("x = f'{a}'") == sim.tokens("y = 'b'")
    assert sim.tokens("def f(:\n") == ["def", "V", "(", ":"]  # read up to the error


def test_winnowing_keeps_one_hash_per_window_and_is_deterministic():
    stream = sim.tokens(MASTER_Q1)
    hashes = sim.kgram_hashes(stream)
    prints = sim.fingerprint(stream)
    for i in range(len(hashes) - sim.W + 1):
        assert min(hashes[i:i + sim.W]) in prints
    assert len(prints) < len(hashes) and prints == sim.fingerprint(list(stream))


def test_copies_are_caught_and_independent_answers_are_not():
    result = sim.compare(_answers({"dan": {"c1": DAN}, "pat": {"c1": MASTER_Q1}}), SOLUTIONS,
                         report_min=0.0)
    pairs = result.pairs
    flagged = {frozenset(p) for p in pairs[pairs["flagged"]][["student_a", "student_b"]]
               .itertuples(index=False)}
    assert flagged == {frozenset(("dan", "eve")), frozenset(("pat", "master"))}
    independent = [s for a, b, s in pairs[["student_a", "student_b", "score"]]
                   .itertuples(index=False)
                   if {a, b} <= set(INDEPENDENT) | {"master"} and {a, b} != {"pat", "master"}]
    copies = sorted(pairs[pairs["flagged"]]["score"])
    print("\nindependent pairs (with shared fingerprints):", sorted(round(s, 2)
                                                              for s in independent))
    print("copies:", [round(s, 2) for s in copies], "threshold:", sim.THRESHOLD)
    n_pairs = len(list(combinations(INDEPENDENT, 2))) + len(INDEPENDENT)
    assert max(independent, default=0) < sim.THRESHOLD <= min(copies)
    assert n_pairs == 28


def test_short_answers_are_never_flagged():
    short = {"a": {"c1": "def normalize(v):\n    return v"},
             "b": {"c1": "def normalize(w):\n    return w"}}
    pairs = sim.compare(short, SOLUTIONS, report_min=0.0).pairs
    assert not pairs["flagged"].any()


def test_the_starter_code_is_not_evidence():
    assert sim.starter(MASTER_Q1).strip() == "def normalize(values):"


def test_bad_threshold_is_refused():
    with pytest.raises(ValueError, match="threshold=1.5"):
        sim.compare(_answers(), SOLUTIONS, threshold=1.5)
