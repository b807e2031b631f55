"""The course tools on the command line: ``peprkit grade report|manual|merge-marks|export|
similarity|merge`` and ``peprkit check-submission``.

``peprkit grade SUBMISSIONS --lesson NN`` grades; when the first word after ``grade`` is
one of :data:`TOOLS` the rest is read by that tool's parser (:func:`build_tools_parser`)
instead, so a submission cannot be named ``report`` etc. without a path (``./report``).
Each ``run_<tool>`` returns an exit code; a ``ValueError`` is reported by ``peprkit.cli``
as one line (exit code 2).
"""

from __future__ import annotations

import sys

TOOLS = ("report", "manual", "merge-marks", "export", "similarity", "merge")


def build_tools_parser(parser_class):
    """The ``peprkit grade TOOL`` parser (``parser_class``: the CLI's ArgumentParser)."""
    parser = parser_class(prog="peprkit grade",
                          description="Course tools on a gradebook or a lesson's submissions.")
    sub = parser.add_subparsers(dest="tool", required=True, metavar="TOOL",
                                parser_class=parser_class)
    p = sub.add_parser("report", help="one feedback page (HTML + Markdown) per student and "
                       "lesson, and index.html for you")
    p.add_argument("gradebook", help="gradebook CSV written by peprkit grade")
    p.add_argument("--out", default="reports", help="folder for the reports")
    p.add_argument("--lesson", action="append", default=None,
                   help="only this lesson (as in the gradebook); repeat for several")

    p = sub.add_parser("manual", help="pages to mark the manual questions, and marks.csv")
    p.add_argument("submissions", nargs="+", help="student notebooks or folders")
    p.add_argument("--lesson", required=True, help='lesson number or name, e.g. "01"')
    p.add_argument("--out", default="marking", help="folder for the pages and marks.csv")
    p.add_argument("--source", default=None, help="folder of master notebooks")
    p.add_argument("--student-pattern", default=None,
                   help="regular expression finding the student in the file name")

    p = sub.add_parser("merge-marks", help="merge a filled-in marks.csv into the gradebook")
    p.add_argument("marks", help="marks CSV (from peprkit grade manual)")
    p.add_argument("--out", default="grades.csv", help="gradebook CSV to update")
    p.add_argument("--lesson", default=None, help="refuse marks of any other lesson")
    p.add_argument("--marked-by", default=None, help="who marked (default: your user name)")

    p = sub.add_parser("export", help="one row per student for Canvas, Moodle or a wide CSV")
    p.add_argument("gradebook", help="gradebook CSV")
    p.add_argument("--format", choices=["canvas", "moodle", "wide"], default="wide",
                   help="column layout")
    p.add_argument("--out", default="lms.csv", help="CSV to write")
    p.add_argument("--roster", default=None, help="CSV: student, name, email, sis_id, "
                   "login_id, lms_id, section (needed for canvas and moodle)")
    p.add_argument("--deadline", action="append", default=None,
                   help="ISO time, or LESSON=TIME; repeat for several lessons")
    p.add_argument("--submitted-at", default=None, help="CSV: student, lesson, submitted_at "
                   "(default: each submitted file's modification time)")
    p.add_argument("--late-penalty", default="10%/day", help="share lost per started day late")
    p.add_argument("--late-cap", default="100%", help="largest share lost")

    p = sub.add_parser("similarity", help="similar answers across submissions (never grades)")
    p.add_argument("submissions", nargs="+", help="student notebooks or folders")
    p.add_argument("--lesson", required=True, help='lesson number or name, e.g. "01"')
    p.add_argument("--out", default="similarity.html", help="HTML (the CSV goes beside it)")
    p.add_argument("--source", default=None, help="folder of master notebooks")
    p.add_argument("--student-pattern", default=None,
                   help="regular expression finding the student in the file name")
    p.add_argument("--threshold", type=float, default=None,
                   help="score from which a pair is flagged (default 0.7)")

    p = sub.add_parser("merge", help="combine the gradebooks of grading shards")
    p.add_argument("books", nargs="+", help="gradebook CSVs")
    p.add_argument("--out", default="grades.csv", help="combined gradebook")
    return parser


def run_tool(args) -> int:
    """Run the tool ``args.tool``."""
    return _RUN[args.tool](args)


def _report(args) -> int:
    from peprkit.course.report import write_reports

    written = write_reports(args.gradebook, args.out, lessons=args.lesson)
    print(f"wrote {len(written.students) // 2} student report(s) (HTML + Markdown) and "
          f"{written.index}")
    return 0


def _manual(args) -> int:
    from peprkit.course.marking import write_marking

    written = write_marking(args.submissions, lesson=args.lesson, out=args.out,
                            source_dir=args.source, student_pattern=args.student_pattern)
    for path in written:
        print(f"wrote {path}")
    return 0


def _merge_marks(args) -> int:
    from peprkit.course.marking import merge_marks

    done = merge_marks(args.marks, args.out, lesson=args.lesson, marked_by=args.marked_by)
    print(f"{done['merged']} mark(s) merged into {args.out}, {done['unchanged']} unchanged, "
          f"{done['blank']} row(s) without points yet")
    return 0


def _export(args) -> int:
    from peprkit.course.export import export

    done = export(args.gradebook, out=args.out, format=args.format, roster=args.roster,
                  deadline=args.deadline, submitted_at=args.submitted_at,
                  late_penalty=args.late_penalty, late_cap=args.late_cap)
    for item in done["unmatched"]:
        print(f"unmatched: {item['student']}: {item['problem']}", file=sys.stderr)
    late = done["late"]
    for r in late.to_dict("records") if len(late) else []:
        print(f"late: {r['student']} {r['lesson']}: {r['days_late']} day(s) after the deadline "
              f"({r['time_from']}), {r['points_before']:g} -> {r['points_after']:g} points")
    print(f"wrote {done['rows']} row(s) to {done['out']}")
    return 0


def _similarity(args) -> int:
    from peprkit.course import similarity as sim

    result = sim.similarity(args.submissions, lesson=args.lesson, out=args.out,
                            source_dir=args.source, student_pattern=args.student_pattern,
                            threshold=args.threshold or sim.THRESHOLD)
    flagged = result.pairs[result.pairs["flagged"]]
    for r in flagged.to_dict("records"):
        print(f"flagged: {r['student_a']} ~ {r['student_b']} ({r['question']}): "
              f"{r['score']:.2f}")
    print(f"{len(flagged)} flagged pair(s); wrote {args.out}")
    return 0


def _merge(args) -> int:
    from peprkit.course.export import merge_books

    merged = merge_books(args.books, args.out)
    print(f"wrote {len(merged)} row(s) to {args.out}")
    return 0


_RUN = {"report": _report, "manual": _manual, "merge-marks": _merge_marks, "export": _export,
        "similarity": _similarity, "merge": _merge}


def prepare_grade(args) -> bool:
    """``peprkit grade``'s ``--jobs auto`` and ``--shard I/N`` applied to ``args``; False
    when this shard has nothing to grade."""
    if args.jobs == "auto":
        from peprkit.course.export import auto_jobs

        args.jobs = auto_jobs()
        print(f"--jobs auto: grading {args.jobs} submission(s) at once")
    if args.shard is None:
        return True
    from peprkit.course import _gradebook
    from peprkit.course.export import shard_of

    paths = _gradebook.expand_submissions(args.submissions)
    mine = shard_of([(args.lesson, _gradebook.sha256(p)) for p in paths], *args.shard)
    args.submissions = [paths[i] for i in sorted(mine)]
    print(f"--shard {args.shard[0]}/{args.shard[1]}: {len(mine)} of {len(paths)} submission(s)")
    return bool(mine)


def add_check_submission(sub) -> None:
    p = sub.add_parser("check-submission", help="rerun a saved notebook as the grader will "
                       "and say whether it is ready to submit (exit 0 when it is)")
    p.add_argument("notebook", help="the .ipynb you will hand in")
    p.add_argument("--timeout", type=float, default=1200.0,
                   help="the grader's limit for the whole notebook (seconds)")
    p.add_argument("--cell-timeout", type=float, default=300.0,
                   help="the grader's limit for one cell (seconds)")


def run_check_submission(args) -> int:
    from pathlib import Path

    from peprkit.checks._submit import ready_to_submit

    if not Path(args.notebook).is_file() or not args.notebook.endswith(".ipynb"):
        raise ValueError(f"notebook={args.notebook!r} is not a saved .ipynb file; pass the "
                         "notebook you will hand in.")
    found = ready_to_submit(args.notebook, timeout_s=args.timeout,
                            cell_timeout_s=args.cell_timeout)
    return 0 if found is not None and found.ok else 1
