"""How long `peprkit grade similarity` takes for a large class (300 submissions by default).

    python benchmarks/similarity_speed.py [N_SUBMISSIONS]

Generates a master with four auto-graded questions and N notebooks whose answer cells are
random programs of 10 to 25 lines (random statements, names and constants, so pairs share
little), plus five planted copies; reads, fingerprints and compares them all (files read
from disk included) and prints the time and the score distribution. Target: 300
submissions in under a minute on 2 cores.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

from peprkit.course.similarity import similarity

STATEMENTS = [
    "{a} = {b} + {n}", "{a} = [{b} * {n} for {c} in range({n})]", "{a}.append({b})",
    "if {a} > {n}:\n    {b} = {a} - {n}", "for {c} in {a}:\n    {b} += {c}",
    "{a} = sorted({b}, key=lambda {c}: -{c})", "{a} = dict(zip({b}, {c}))",
    "while {a} < {n}:\n    {a} += {n}", "{a} = max({b}, default={n})",
    "{a} = '{s}'.join(str({c}) for {c} in {b})", "try:\n    {a} = {b} / {n}\nexcept "
    "ZeroDivisionError:\n    {a} = 0", "{a}, {b} = {b}, {a}", "{a} = {b}[{n}:{n}]",
    "assert {a} is not None", "{a} = {{{b}: {n}}}", "{a} = {b} ** {n} % {n}",
]
NAMES = ["x", "y", "total", "items", "acc", "val", "res", "tmp", "data", "k", "out", "row"]


def program(rng: random.Random) -> str:
    lines = [f"def answer({rng.choice(NAMES)}):"]
    for _ in range(rng.randint(10, 25)):
        a, b, c = (rng.choice(NAMES) for _ in range(3))
        stmt = rng.choice(STATEMENTS).format(a=a, b=b, c=c, n=rng.randint(0, 99), s=",")
        lines += ["    " + line for line in stmt.splitlines()]
    lines.append(f"    return {rng.choice(NAMES)}")
    return "\n".join(lines)


def cell(kind: str, source: str, cid: str) -> dict:
    base = {"cell_type": kind, "id": cid, "metadata": {}, "source": source}
    return {**base, "outputs": [], "execution_count": None} if kind == "code" else base


def notebook(cells: list[dict]) -> dict:
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def main(n: int = 300) -> float:
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "source").mkdir()
        (root / "subs").mkdir()
        master = []
        for q in range(4):
            master += [cell("raw", f"# BEGIN QUESTION\nname: q{q}\npoints: 1", f"b{q}"),
                       cell("raw", "# BEGIN SOLUTION", f"s{q}"),
                       cell("code", program(rng), f"q{q}a"),
                       cell("raw", "# END SOLUTION", f"e{q}"),
                       cell("raw", "# END QUESTION", f"z{q}")]
        (root / "source" / "01_bench.ipynb").write_text(json.dumps(notebook(master)))
        answers = {}
        for i in range(n):
            answers[i] = [program(rng) for _ in range(4)]
        for i in range(5):  # planted copies
            answers[n - 1 - i] = list(answers[i])
        for i, sources in answers.items():
            cells = [cell("code", s, f"q{q}a") for q, s in enumerate(sources)]
            (root / "subs" / f"s{i:04d}.ipynb").write_text(json.dumps(notebook(cells)))
        start = time.perf_counter()
        result = similarity([root / "subs"], lesson="01", out=root / "sim.html",
                            source_dir=root / "source")
        took = time.perf_counter() - start
    pairs = result.pairs
    print(f"{n} submissions x 4 questions: {took:.1f} s (target: under 60 s on 2 cores)")
    print(f"{int(pairs['flagged'].sum())} flagged (20 planted: 5 copies x 4 questions; the rest "
          "are look-alikes of this benchmark's 16-statement grammar, not a measure of "
          f"accuracy); pairs reported (score >= 0.3): {len(pairs)}")
    print("score quantiles of reported pairs:",
          pairs["score"].quantile([0.5, 0.9, 0.99, 1.0]).round(2).to_dict())
    return took


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
