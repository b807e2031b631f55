"""Similar answers across a lesson's submissions: a report for a person; it never grades.

``peprkit grade similarity SUBMISSIONS --lesson NN --out similarity.html``
(:func:`similarity`) compares every auto-graded answer cell of every pair of submissions,
and each against the master's solution, and writes ``similarity.html`` (pairs ranked by
score, the two cells side by side, escaped) and ``similarity.csv`` beside it (student_a,
student_b, question, score, shared, flagged; ``student_b`` is ``master`` for the master's
solution). It runs locally and reads nothing but the files given.

**Fingerprints** follow *winnowing* (Schleimer, Wilkerson and Aiken, "Winnowing: local
algorithms for document fingerprinting", SIGMOD 2003), the method behind MOSS:

1. Normalise (:func:`tokens`): Python's :mod:`tokenize`; every identifier becomes ``V``,
   every number ``N``, every string ``S`` (keywords and operators stay), comments and
   blank lines are dropped, statement ends and indentation become tokens. Renaming
   variables or reformatting changes nothing.
2. Hash every k-gram of the token stream (``k`` = :data:`K`, 5 tokens).
3. Winnow (:func:`fingerprint`): in every window of ``w`` = :data:`W` consecutive hashes keep
   the minimum (the rightmost on ties), so any match of at least ``k + w - 1`` tokens is
   found, and moving independent lines around keeps every fingerprint inside the lines.
4. Hashes of the starter code (the master's cell without its solution) are dropped, and so
   are hashes found in more than :data:`COMMON` of the submissions (boilerplate everybody
   writes; the paper's and MOSS's "ignore common passages").

**Score** of a pair: shared fingerprints / the smaller fingerprint set (the share of the
shorter answer found in the other). A pair is *flagged* at ``score >= threshold`` with at
least :data:`MIN_SHARED` shared fingerprints: a short answer cannot be told apart from an
independent one, so it is never flagged. The default :data:`THRESHOLD` comes from the
score distribution of independently written answers in ``tests/test_course_similarity.py``.
"""

from __future__ import annotations

import io
import json
import keyword
import re
import tokenize
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import pandas as pd

from peprkit._util import atomic_write
from peprkit.course import _gradebook, _html
from peprkit.course._autograder import cell_source, read_master

K = 5  #: tokens per k-gram
W = 4  #: window of the winnowing (matches of K + W - 1 = 8 tokens are always found)
THRESHOLD = 0.7  #: default score from which a pair is flagged
MIN_SHARED = 6  #: fewer shared fingerprints are never flagged (too short to tell)
COMMON = 0.5  #: a hash in more than this share of the submissions is boilerplate
REPORT_MIN = 0.3  #: pairs below this score are left out of the CSV and the page
MASTER = "master"


def tokens(source: str) -> list[str]:
    """The normalised token stream of Python code (see the module's docstring); code that
    does not tokenize is read up to its error.

    >>> tokens("total = x + 1  # add one") == tokens("s = value + 2")
    True
    """
    source = "\n".join(line for line in source.splitlines()
                       if not line.lstrip().startswith(("%", "!")))
    found: list[str] = []
    in_fstring = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source + "\n").readline):
            kind = tokenize.tok_name.get(tok.type, "")
            if kind == "FSTRING_START":
                in_fstring += 1
                if in_fstring == 1:
                    found.append("S")
                continue
            if kind == "FSTRING_END":
                in_fstring -= 1
                continue
            if in_fstring:
                continue
            if tok.type == tokenize.NAME:
                found.append(tok.string if keyword.iskeyword(tok.string) else "V")
            elif tok.type == tokenize.NUMBER:
                found.append("N")
            elif tok.type == tokenize.STRING:
                found.append("S")
            elif tok.type == tokenize.OP:
                found.append(tok.string)
            elif tok.type == tokenize.NEWLINE:
                found.append(";")
            elif tok.type == tokenize.INDENT:
                found.append("{")
            elif tok.type == tokenize.DEDENT:
                found.append("}")
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return found


def kgram_hashes(stream: list[str], k: int = K) -> list[int]:
    """A 32-bit hash (CRC-32, the same in every process) of every k-gram of ``stream``."""
    joined = [t.encode() for t in stream]
    return [zlib.crc32(b"\x1f".join(joined[i:i + k])) for i in range(len(joined) - k + 1)]


def fingerprint(stream: list[str], k: int = K, w: int = W) -> set[int]:
    """The winnowed fingerprints of a token stream: the minimum hash of every window of
    ``w`` k-gram hashes (rightmost on ties); a stream shorter than one window keeps its
    smallest hash."""
    hashes = kgram_hashes(stream, k)
    if not hashes:
        return set()
    if len(hashes) <= w:
        return {min(hashes)}
    chosen = set()
    for i in range(len(hashes) - w + 1):
        window = hashes[i:i + w]
        low = min(window)
        chosen.add(low)
    return chosen


def starter(source: str) -> str:
    """A master's answer cell without its solution: lines between ``# BEGIN SOLUTION``
    and ``# END SOLUTION`` and lines ending in ``# SOLUTION`` removed."""
    kept, skipping = [], False
    for line in source.splitlines():
        mark = line.strip()
        if mark.startswith("# BEGIN SOLUTION"):
            skipping = True
        elif mark.startswith("# END SOLUTION"):
            skipping = False
        elif not skipping and not re.search(r"#\s*SOLUTION\s*$", line):
            kept.append(line)
    return "\n".join(kept)


def solution_cells(master: str | Path) -> dict[str, dict[str, str]]:
    """``{question: {cell id: solution source}}`` for every auto-graded question of the
    master: its code cells inside ``# BEGIN SOLUTION`` or carrying a ``SOLUTION`` marker."""
    outline = read_master(master)
    nb = json.loads(Path(master).read_text())
    inside, by_id = False, {}
    for cell in nb["cells"]:
        source = cell_source(cell)
        if cell["cell_type"] == "raw":
            head = source.lstrip()
            inside = True if head.startswith("# BEGIN SOLUTION") else (
                False if head.startswith("# END SOLUTION") else inside)
        elif cell["cell_type"] == "code" and cell.get("id") and (
                inside or "SOLUTION" in source):
            by_id[cell["id"]] = source
    return {q.name: {cid: by_id[cid] for cid in outline.cells.get(q.name, []) if cid in by_id}
            for q in outline.questions if not q.manual}


@dataclass
class Result:
    """What :func:`compare` found: the pairs (a DataFrame, CSV columns) and, by
    (student, question), the answer text (for the side-by-side view)."""

    pairs: pd.DataFrame
    texts: dict[tuple[str, str], str]
    skipped: list[str]


def compare(answers: dict[str, dict[str, str]], solutions: dict[str, dict[str, str]], *,
            threshold: float = THRESHOLD, min_shared: int = MIN_SHARED,
            common: float = COMMON, report_min: float = REPORT_MIN) -> Result:
    """Score every pair of students per question, and each against the master.

    Args:
        answers: ``{student: {cell id: source}}``.
        solutions: :func:`solution_cells` of the master.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold!r} must be in (0, 1], e.g. {THRESHOLD}.")
    rows, texts = [], {}
    students = list(answers)
    for question, cells in solutions.items():
        ignore = set()
        for source in cells.values():
            ignore |= set(kgram_hashes(tokens(starter(source))))
        prints: dict[str, set[int]] = {}
        for student in students:
            text = "\n\n".join(answers[student].get(cid, "") for cid in cells).strip()
            texts[(student, question)] = text
            prints[student] = fingerprint(tokens(text)) - ignore
        master_text = "\n\n".join(cells.values())
        texts[(MASTER, question)] = master_text
        master_print = fingerprint(tokens(master_text)) - ignore
        counts = Counter(h for p in prints.values() for h in p)
        cap = max(2, int(common * len(students)))
        postings = defaultdict(list)
        for i, student in enumerate(students):
            for h in prints[student]:
                if counts[h] <= cap:
                    postings[h].append(i)
        shared: Counter = Counter()
        for members in postings.values():
            for pair in combinations(members, 2):
                shared[pair] += 1
        sizes = [len({h for h in prints[s] if counts[h] <= cap}) for s in students]
        for (i, j), n in shared.items():
            score = n / max(1, min(sizes[i], sizes[j]))
            if score >= report_min:
                rows.append((students[i], students[j], question, score, n,
                             score >= threshold and n >= min_shared))
        for student in students:
            n = len(prints[student] & master_print)
            score = n / max(1, min(len(prints[student]), len(master_print)))
            if n and score >= report_min:
                rows.append((student, MASTER, question, score, n,
                             score >= threshold and n >= min_shared))
    pairs = pd.DataFrame(rows, columns=["student_a", "student_b", "question", "score",
                                        "shared", "flagged"])
    pairs["score"] = pairs["score"].round(3)
    pairs = pairs.sort_values(["flagged", "score", "shared"], ascending=False,
                              kind="stable").reset_index(drop=True)
    return Result(pairs, texts, [])


def read_answers(submissions, solutions: dict[str, dict[str, str]],
                 student_pattern: str | None = None) -> tuple[dict, list[str]]:
    """``({student: {cell id: source}}, unreadable files)`` of the answer cells (those
    with an id of a master solution cell)."""
    wanted = {cid for cells in solutions.values() for cid in cells}
    subs = _gradebook.identify(_gradebook.expand_submissions(submissions), student_pattern)
    found, skipped = {}, []
    for sub in subs:
        try:
            nb = json.loads(_gradebook.read_submission(sub.path).decode("utf-8"))
            cells = {c["id"]: cell_source(c) for c in nb["cells"]
                     if isinstance(c, dict) and c.get("cell_type") == "code"
                     and c.get("id") in wanted}
        except (OSError, ValueError, RecursionError, KeyError, TypeError) as err:
            skipped.append(f"{sub.path}: {type(err).__name__}")
            continue
        found[sub.student] = {k: v for k, v in cells.items() if isinstance(v, str)}
    return found, skipped


def similarity(submissions, *, lesson: str, out: str | Path,
               source_dir: str | Path | None = None, student_pattern: str | None = None,
               threshold: float = THRESHOLD, shown: int = 60) -> Result:
    """Write ``out`` (HTML) and the CSV beside it (see the module's docstring).

    Raises:
        ValueError: unknown lesson, bad submissions, ``out`` not ending in ``.html``.
    """
    from peprkit.course.authoring import find_master

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"out={str(out)!r} must be an .html file (the CSV is written "
                         "beside it), e.g. similarity.html.")
    master = find_master(lesson, source_dir)
    solutions = solution_cells(master)
    answers, skipped = read_answers(submissions, solutions, student_pattern)
    result = compare(answers, solutions, threshold=threshold)
    result.skipped = skipped
    atomic_write(out.with_suffix(".csv"), _gradebook.to_csv(result.pairs))
    top = result.pairs.head(shown)
    page = _html.render(
        "similarity.html.j2", lesson=master.stem, threshold=threshold, min_shared=MIN_SHARED,
        n_students=len(answers), n_flagged=int(result.pairs["flagged"].sum()),
        skipped=skipped, csv_name=out.with_suffix(".csv").name,
        pairs=[{**r, "text_a": result.texts.get((r["student_a"], r["question"]), ""),
                "text_b": result.texts.get((r["student_b"], r["question"]), "")}
               for r in top.to_dict("records")],
        generator="grade similarity", source=master.name, K=K, W=W)
    atomic_write(out, page)
    return result
