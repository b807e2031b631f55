"""Teacher tools: build the course notebooks, hold the hidden tests, grade submissions.

- :mod:`peprkit.course.authoring` turns the masters (``notebooks/source``) into student
  notebooks (``peprkit course build|check|fmt``);
- :mod:`peprkit.course.hidden` holds the hidden tests and grading hooks, one module per
  lesson (the learners' self-checks they build on are :mod:`peprkit.checks`);
- :mod:`peprkit.course.grading` grades submissions (``peprkit grade``): each notebook runs
  sandboxed (:mod:`peprkit.course._sandbox`), exports its answers as plain data, and the
  scores are decided in a process that never runs student code.

This package may import :mod:`peprkit.checks`; nothing in the learner library imports it
(only the command line, :mod:`peprkit.cli`).
"""
