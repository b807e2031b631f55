"""Teacher tools: build the course notebooks, self-check answers, grade submissions.

- :mod:`peprkit.course.authoring` turns the masters (``notebooks/source``) into student
  notebooks and public tests (``peprkit course build|check``);
- :mod:`peprkit.course.checks` holds the learners' self-checks, one function per question
  (learners reach them as ``peprkit.checks``);
- :mod:`peprkit.course.grading` grades submissions (``peprkit grade``): each notebook runs
  sandboxed (:mod:`peprkit.course._sandbox`), exports its answers as plain data, and the
  scores are decided in a process that never runs student code.

Nothing in the learner library imports this package (``peprkit.checks`` is a lazy alias).
"""
