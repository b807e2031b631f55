"""Inputs of hidden tests, drawn at grading time from the instructor's secret.

``peprkit grade`` derives one seed per lesson from a secret kept in the instructor's
config folder (``grading_secret`` in ``config_dir()/grading.json``, created on first use),
and from it one seed per submission (:func:`submission_seed`: the student and the SHA-256
of the file), which it hands to the scoring process only (never to a sandbox). Hidden
tests draw their inputs from :func:`rng`, so knowing the public tests, the hidden tests'
code or the solutions gives no lookup table, and inputs one submission saw (or leaked)
are not those of another student, nor of a changed file. Outside grading (a master run
top to bottom, a learner) :func:`rng` draws fresh random inputs.

>>> rng("01", "q1").uniform() < 1.0
True
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

import numpy as np

#: Environment variable holding the per-lesson seed in the scoring process.
SEED_ENV = "PEPRKIT_GRADING_SEED"


def rng(lesson: str, question: str, *, seed: str | None = None) -> np.random.Generator:
    """The generator of a hidden test's inputs for ``question`` of ``lesson`` (``seed``
    default: the scoring process's, else fresh randomness)."""
    seed = seed or os.environ.get(SEED_ENV)
    if not seed:
        return np.random.default_rng()
    digest = hashlib.sha256(f"{seed}/{lesson}/{question}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def secret_file() -> Path:
    """Where the instructor's grading secret lives."""
    from peprkit._paths import config_dir

    return config_dir() / "grading.json"


def lesson_seed(lesson: str, secret: str | None = None) -> str:
    """The seed of one lesson's hidden inputs: HMAC of the lesson with the secret."""
    if secret is None:
        path = secret_file()
        data = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except ValueError:
                data = {}
        secret = data.get("grading_secret")
        if not secret:
            from peprkit._util import atomic_write

            secret = secrets.token_hex(32)
            path.parent.mkdir(parents=True, exist_ok=True)
            # private from the first byte written (the secret decides every hidden input)
            atomic_write(path, json.dumps({**data, "grading_secret": secret}, indent=1),
                         mode=0o600)
    return hmac.new(str(secret).encode(), str(lesson).encode(), hashlib.sha256).hexdigest()


def submission_seed(lesson_seed: str, student: str, sha256: str) -> str:
    """The seed of one submission's drawn inputs (injected parameters and hidden tests):
    HMAC of the student and the file's SHA-256 with the lesson's seed, so that no two
    students, and no changed file, get the same draws (regrading the same file does).

    >>> a = submission_seed("s", "ann", "00")
    >>> a == submission_seed("s", "ann", "00"), a == submission_seed("s", "bob", "00")
    (True, False)
    """
    message = f"{len(student)}:{student}/{sha256}".encode("utf-8", "replace")
    return hmac.new(str(lesson_seed).encode(), message, hashlib.sha256).hexdigest()
