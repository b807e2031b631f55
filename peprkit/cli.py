"""The ``peprkit`` command: ``info | demo | sweep | grade | course | bundle | class | meter``.

Each sub-command has ``_add_<name>(subparsers)`` declaring its options and ``_cmd_<name>(args)
-> int`` running it. A ``ValueError`` prints one line naming the option (exit code 2), never a
traceback. Every option has help and shows its default; lists are ``a,b``, ``a b`` or both.
"""

from __future__ import annotations

import argparse
import re
import sys

from peprkit import __version__

#: Shown by ``peprkit --help`` (plain text: no markup).
_DESCRIPTION = (
    "peprkit: fine-tune small image models on medical images (MedMNIST), measure the "
    "energy, carbon, time and memory each run costs, and score the models with PePR, "
    "performance per resource unit."
)
_EPILOG = (
    "Run 'peprkit COMMAND --help' for the options of one command. Lists of models, "
    "datasets or sizes may be written 'a,b', 'a b' or both. Documentation: README.md."
)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: ...)" to option help, except where there is nothing to show."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default in (None, argparse.SUPPRESS, False, True, "", [])
            or isinstance(action, argparse._VersionAction)
        ):
            return text
        if isinstance(default, (list, tuple)):
            return f"{text} (default: {' '.join(map(str, default))})"
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose sub-command parsers show defaults too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        """One line naming the option, and where to read more (exit code 2)."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _ListAction(argparse.Action):
    """A list option that takes ``a,b``, ``a b`` or a mix; repeated names are kept once."""

    def __init__(self, *args, item_type=str, **kwargs):
        kwargs.setdefault("nargs", "+")
        super().__init__(*args, **kwargs)
        self.item_type = item_type

    def __call__(self, parser, namespace, values, option_string=None):
        convert = self.item_type
        items = []
        for value in values if isinstance(values, list) else [values]:
            for part in str(value).split(","):
                part = part.strip()
                if not part:
                    continue
                try:
                    item = convert(part)
                except ValueError:
                    raise argparse.ArgumentError(
                        self, f"{part!r} is not a valid {convert.__name__} "
                        f"(write e.g. {option_string} a,b or {option_string} a b)") from None
                if item not in items:
                    items.append(item)
        if not items:
            raise argparse.ArgumentError(self, "needs at least one value, e.g. a,b or a b")
        setattr(namespace, self.dest, items)


def _count(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number >= 1, e.g. 5")
    return value


def _positive(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 0, e.g. 0.0005")
    return value


def _shard(text: str) -> tuple[int, int]:
    """argparse type: ``i/n`` with ``0 <= i < n`` (run every n-th job, from the i-th)."""
    parts = text.split("/")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        i, n = (int(p) for p in parts)
        if i < n:
            return i, n
    raise argparse.ArgumentTypeError(
        f"{text!r} must be i/n with 0 <= i < n (shard i of n, counted from 0), e.g. 0/4")


def _option_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``dest -> --option`` for ``parser`` and its sub-command parsers."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                names.update(_option_names(child))
        elif action.option_strings:
            names.setdefault(action.dest, max(action.option_strings, key=len))
    return names


#: Python argument names used by the library, and the command-line option that sets them.
_PYTHON_NAMES = {"model": "models", "name": "models", "flag": "dataset", "datasets": "datasets",
                 "source_dir": "source", "timeout_s": "timeout",
                 "cell_timeout_s": "cell_timeout"}


def _name_options(message: str, parser: argparse.ArgumentParser) -> str:
    """Rewrite ``name=value`` (Python arguments) in ``message`` as ``--option value``.

    >>> p = build_parser()
    >>> _name_options("model='resnet1' is not a timm model.", p._subparsers._group_actions[0]
    ...               .choices["sweep"])
    '--models resnet1 is not a timm model.'
    """
    options = _option_names(parser)
    for python, dest in _PYTHON_NAMES.items():
        if dest in options:
            options.setdefault(python, options[dest])

    def rewrite(match: re.Match) -> str:
        option = options.get(match.group(1))
        if option is None:
            return match.group(0)
        value = match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        return option if value in ("", "True") else f"{option} {value}"

    return re.sub(r"(?<![\w.`-])([a-z_]+)=('[^']*'|\"[^\"]*\"|[^\s,;()\[\]]*)", rewrite,
                  message)


# --- info -------------------------------------------------------------------
def _add_info(sub) -> None:
    sub.add_parser("info", help="versions, device, what the meter can measure, offline files")


def _cmd_info(args) -> int:
    import importlib
    import platform

    from peprkit import __version__
    from peprkit._paths import active_bundle

    print(f"peprkit {__version__}, Python {platform.python_version()} on {platform.platform()}")
    versions = {}
    for name in ("torch", "timm", "medmnist", "numpy", "pandas"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:
            versions[name] = "not installed (pip install 'peprkit[train]')"
    print("Packages: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if "not installed" not in versions["torch"]:
        import torch

        if torch.cuda.is_available():
            print(f"Device: CUDA {torch.cuda.get_device_name(0)} (training uses it, with AMP)")
        else:
            print(f"Device: CPU only, {torch.get_num_threads()} torch threads (no CUDA GPU)")
    from peprkit.meter import probe

    print(probe())
    bundle = active_bundle() or "none (set PEPRKIT_BUNDLE or run `peprkit bundle use`)"
    print(f"Workshop bundle: {bundle}")
    if "not installed" in versions["timm"] or "not installed" in versions["medmnist"]:
        return 0
    from peprkit.data import SIZES, find_medmnist, flags_2d
    from peprkit.models import SMALL_ZOO, find_weights, hub_reachable

    found = [(f, s, find_medmnist(f, size=s)[0]) for f in flags_2d() for s in SIZES]
    found = [(f, s, path) for f, s, path in found if path is not None]
    print(f"Datasets offline ({len(found)}):" + ("" if found else " none"))
    for flag, size, path in found:
        print(f"  {flag:<16} {size:>3} px  {path}")
    weights = [(name, find_weights(name)[0]) for name in SMALL_ZOO]
    have = [(name, path) for name, path in weights if path is not None]
    print(f"Pretrained weights offline for SMALL_ZOO: {len(have)}/{len(SMALL_ZOO)}")
    for name, path in have:
        print(f"  {name:<24} {path}")
    online = hub_reachable()
    print("Hugging Face hub: " + ("reachable (missing weights download on first use)" if online
                                  else "not reachable (pretrained runs need local weights)"))
    return 0


# --- demo -------------------------------------------------------------------
def _add_demo(sub) -> None:
    from peprkit.demo import DEMO_MODELS, EPOCHS, QUICK_EPOCHS, QUICK_MODELS

    p = sub.add_parser("demo", help="fine-tune a few small models and print a PePR table",
                       description="Fine-tune a few small pretrained models on one MedMNIST "
                       "set (a labelled synthetic stand-in when it cannot be found or "
                       "downloaded), meter each run, and print a PePR table and a Pareto plot "
                       "(peprkit.demo.run_demo does the same from Python).")
    p.add_argument("--models", action=_ListAction, default=None,
                   help="timm model names, e.g. resnet18,lcnet_050 (default: "
                   f"{' '.join(DEMO_MODELS)}; with --quick: "
                   f"{' '.join(DEMO_MODELS[:QUICK_MODELS])})")
    p.add_argument("--dataset", default="breastmnist", help="2D MedMNIST flag (28 px)")
    p.add_argument("--epochs", type=_count, default=None,
                   help=f"epochs per model (default: {EPOCHS}; with --quick: {QUICK_EPOCHS})")
    p.add_argument("--quick", action="store_true",
                   help="a check of about a minute: two models, one epoch "
                   "(also on when PEPRKIT_QUICK=1)")
    p.add_argument("--out", default="peprkit-demo", help="folder for results.csv and pareto.png")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _cmd_demo(args) -> int:
    from peprkit.demo import run_demo

    run_demo(args.models, dataset=args.dataset, epochs=args.epochs,
             quick=True if args.quick else None, out=args.out, quiet=args.quiet)
    return 0


# --- sweep ------------------------------------------------------------------
def _add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="run a resumable grid of fine-tuning runs",
                       description="Fine-tune every combination of model, pretrained or not, "
                       "training-set fraction and seed; one row per run is appended to --out, "
                       "and runs already there are skipped, so an interrupted sweep resumes.")
    p.add_argument("--models", action=_ListAction, default=None,
                   help="timm model names, e.g. resnet18,efficientnet_b0 or resnet18 lcnet_050 "
                   "(or give --zoo)")
    p.add_argument("--zoo", choices=("small", "paper", "paper-cpu"), default=None,
                   help="a whole zoo instead of --models: small (SMALL_ZOO), paper (the paper's "
                   "131 models) or paper-cpu (those of them that train on a CPU); with --shard "
                   "each learner gets a share balanced by expected cost, plus the reference model")
    p.add_argument("--reference", default=None,
                   help="calibration model trained in every shard (default: resnet18 with --zoo, "
                   "none otherwise; 'none' to skip)")
    p.add_argument("--dataset", required=True, help="2D MedMNIST flag, or a path to an .npz")
    p.add_argument("--size", type=int, choices=(28, 64, 128, 224), default=28,
                   help="image size in pixels")
    p.add_argument("--epochs", type=_count, default=10, help="epochs per run")
    p.add_argument("--out", default="results.csv", help="results CSV (appended, resumable)")
    p.add_argument("--pretrained", choices=("yes", "no", "both"), default="yes",
                   help="start from ImageNet weights (yes), from scratch (no), or run both")
    p.add_argument("--fractions", action=_ListAction, item_type=float, default=[1.0],
                   help="fractions of the training set, each in (0, 1], e.g. 0.1,1")
    p.add_argument("--seeds", action=_ListAction, item_type=int, default=[0],
                   help="random seeds, one run each, e.g. 0,1,2")
    p.add_argument("--shard", type=_shard, default=None,
                   help="i/n: run only every n-th job, from the i-th (0-based), e.g. 0/4 on one "
                   "machine and 1/4 on the next (default: all jobs)")
    p.add_argument("--batch-size", type=_count, default=32, help="images per training step")
    p.add_argument("--lr", type=_positive, default=None,
                   help="learning rate (default: the recipe's, see peprkit.train.RECIPES)")
    p.add_argument("--device", default="auto",
                   help="cpu, cuda, cuda:1, ... or auto (a CUDA GPU when there is one)")
    p.add_argument("--no-download", action="store_true", help="never download the dataset")
    p.add_argument("--country", default=None,
                   help="ISO code of your grid for CO2, e.g. DK (default: world average)")
    p.add_argument("--isolate", choices=("auto", "yes", "no"), default="auto",
                   help="each run in a fresh process (auto: yes on a CPU, no on CUDA)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _cmd_sweep(args) -> int:
    from pathlib import Path

    from peprkit.data import load_medmnist, load_npz
    from peprkit.models import check_model_name
    from peprkit.sweep import make_jobs, run_sweep

    models, shard = args.models, args.shard
    if (models is None) == (args.zoo is None):
        raise ValueError("give either --models or --zoo (e.g. --zoo paper-cpu --shard 0/30).")
    if args.zoo is not None or args.reference not in (None, "none"):
        from peprkit.pool import REFERENCE_MODEL, shard_models, zoo_models

        reference = args.reference or (REFERENCE_MODEL if args.zoo else None)
        reference = None if reference == "none" else reference
        names = zoo_models(args.zoo) if args.zoo else models
        models = shard_models(names, shard or (0, 1), reference=reference, size=args.size)
        shard = None  # the share is by model, balanced by cost
        print(f"{len(models)} models in this shard"
              + (f" (with the reference {reference})" if reference else "") + ": "
              + ", ".join(models[:8]) + (" ..." if len(models) > 8 else ""))
    for name in models:
        check_model_name(name)
    pretrained = {"yes": (True,), "no": (False,), "both": (True, False)}[args.pretrained]
    make_jobs(models, pretrained=pretrained, fractions=args.fractions, seeds=args.seeds,
              shard=shard)  # check the grid before loading any data
    try:
        if args.dataset.endswith(".npz"):
            data = load_npz(Path(args.dataset))
        else:
            data = load_medmnist(args.dataset, size=args.size, download=not args.no_download)
        table = run_sweep(models, data, epochs=args.epochs, out=args.out, pretrained=pretrained,
                          fractions=args.fractions, seeds=args.seeds, shard=shard,
                          quiet=args.quiet, batch_size=args.batch_size, lr=args.lr,
                          device=args.device, country=args.country,
                          isolate={"auto": None, "yes": True, "no": False}[args.isolate])
    except FileNotFoundError as err:  # dataset or pretrained weights missing: say how to get them
        print(f"peprkit sweep: error: {err}", file=sys.stderr)
        return 1
    print(f"{len(table)} runs in {args.out}")
    return 0


# --- grade ------------------------------------------------------------------
def _add_grade(sub) -> None:
    p = sub.add_parser(
        "grade", help="grade student notebooks, each in a sandbox (bubblewrap when available)",
        description="Grade notebooks of one lesson into a gradebook CSV, one row per student "
        "and question. Each notebook runs sandboxed; scores are decided in a separate process "
        "from the answers it exported; hidden tests draw their inputs from your secret.",
        epilog="Course tools: peprkit grade report|manual|merge-marks|export|similarity|merge "
        "(peprkit grade TOOL --help).")
    p.add_argument("submissions", nargs="+", help="student notebooks (.ipynb) or folders of them")
    p.add_argument("--lesson", required=True, help='lesson number or name, e.g. "01"')
    p.add_argument("--out", default="grades.csv", help="CSV to write (default grades.csv)")
    p.add_argument("--source", default=None, help="folder of master notebooks "
                   "(default notebooks/source; point it at a private copy to keep tests hidden)")
    p.add_argument("--timeout", type=float, default=1200.0,
                   help="seconds allowed for one whole submission (default 1200)")
    p.add_argument("--cell-timeout", type=float, default=300.0,
                   help="seconds allowed for one cell or test (default 300)")
    p.add_argument("--jobs", type=_jobs, default=1, help="submissions graded at once, or "
                   "'auto' (from the cores and free memory) (default 1)")
    p.add_argument("--shard", type=_shard, default=None, help="grade only share I of N of the "
                   "submissions (I/N, from 0, by file hash): one job of an array; then "
                   "'peprkit grade merge' the gradebooks")
    p.add_argument("--full", action="store_true",
                   help="run submissions in full mode instead of PEPRKIT_QUICK=1")
    p.add_argument("--restart", action="store_true",
                   help="regrade every submission given, even files already graded in --out")
    p.add_argument("--retry-failed", action="store_true",
                   help="grade again only submissions with timeout/crashed rows in --out")
    p.add_argument("--student-pattern", default=None,
                   help="regular expression finding the student in the file name "
                   "(group 'student'; default: the file name)")
    p.add_argument("--sandbox", choices=["auto", "bwrap", "fallback"], default="auto",
                   help="auto or bwrap: bubblewrap, and refuse to grade where it cannot run "
                   "(default); fallback: grade without file or network isolation (only when "
                   "given)")


def _jobs(text: str) -> int | str:
    """argparse type: ``auto`` or a whole number >= 1."""
    return "auto" if text == "auto" else _count(text)


def _cmd_grade(args) -> int:
    from peprkit.course._sandbox import choose
    from peprkit.course.grading import grade, summary

    mode = choose(args.sandbox)  # without bubblewrap: refused (exit 2) unless fallback given
    if not _course_commands().prepare_grade(args):  # --jobs auto, --shard
        return 0
    grades = grade(
        args.submissions, lesson=args.lesson, out=args.out, source_dir=args.source,
        timeout_s=args.timeout, cell_timeout_s=args.cell_timeout, quick=not args.full,
        jobs=args.jobs, resume=not args.restart, retry_failed=args.retry_failed,
        student_pattern=args.student_pattern, sandbox=mode,
    )
    print(summary(grades).to_string(index=False))
    problems = grades[grades["status"].isin(["error", "timeout", "crashed"])]
    for row in problems.drop_duplicates("student").itertuples():
        print(f"{row.student} ({row.submission}): {row.status}: {row.feedback}", file=sys.stderr)
    print(f"wrote {len(grades)} rows to {args.out}")
    return 0


# --- course -----------------------------------------------------------------
def _add_course(sub) -> None:
    p = sub.add_parser("course", help="build the student notebooks from the masters, check "
                       "that they are up to date, or format the masters")
    p.add_argument("course_command", choices=["build", "check", "fmt"],
                   help="build: write the student notebooks (the masters are only read); "
                   "check: exit 1 when a committed one differs from what its master generates "
                   "or a master is not formatted; fmt: rewrite the masters' generated header "
                   "cells and clear their outputs")
    p.add_argument("--source", default=None, help="folder of masters (default notebooks/source)")


def _cmd_course(args) -> int:
    from peprkit.course import authoring

    return authoring.run(args.course_command, args.source)


# --- bundle -----------------------------------------------------------------
def _add_bundle(sub) -> None:
    parser = sub.add_parser("bundle", help="create, verify or use an offline workshop bundle")
    cmds = parser.add_subparsers(dest="bundle_command", required=True)
    create = cmds.add_parser(
        "create", help="fill a bundle folder (run online; resumable; extends an existing one)")
    create.add_argument("out", help="bundle folder (new, empty, or an existing bundle)")
    create.add_argument("--datasets", action=_ListAction, default=[],
                        help="MedMNIST flags, e.g. breastmnist,dermamnist (default: none)")
    create.add_argument("--sizes", action=_ListAction, item_type=int, default=None,
                        help="image sizes of every dataset, e.g. 28,64 (default: 28)")
    create.add_argument("--models", action=_ListAction, default=[],
                        help="timm models whose pretrained weights to include, e.g. "
                        "resnet18,efficientnet_b0 (default: none)")
    create.add_argument("--paper-results", action="store_true",
                        help="include the PePR paper's all_results.csv and results-imagenet.csv "
                        "(notebook 06)")
    create.add_argument("--wheels", action="store_true",
                        help="include CPU wheels for an offline pip install")
    create.add_argument("--platforms", action=_ListAction, default=["linux", "windows", "macos"],
                        help="wheel platforms: linux (x86-64), windows (x64), macos (arm64, 14+)")
    create.add_argument("--pythons", action=_ListAction, default=None,
                        help="wheel Python versions, e.g. 3.10,3.11,3.12 (default: this one)")
    create.add_argument("--source", default=None,
                        help="copy from this folder (e.g. another bundle) instead of downloading")
    create.add_argument("--dry-run", action="store_true", help="print the plan, fetch nothing")
    verify = cmds.add_parser("verify", help="recompute checksums; exit 1 on any problem")
    verify.add_argument("path", help="bundle folder")
    use = cmds.add_parser("use", help="make peprkit look in this bundle first (saved per user)")
    use.add_argument("path", nargs="?", help="bundle folder; none: show the bundle in use")
    use.add_argument("--off", action="store_true", help="stop using the saved bundle")


def _cmd_bundle(args) -> int:
    import os

    from peprkit import _paths, bundle

    if args.bundle_command == "create":
        bundle.create(
            args.out, datasets=args.datasets, sizes=args.sizes,
            models=args.models, paper_results=args.paper_results, wheels=args.wheels,
            platforms=args.platforms, pythons=args.pythons,
            fetcher=bundle.LocalFetcher(args.source) if args.source else None,
            dry_run=args.dry_run,
        )
        return 0
    if args.bundle_command == "verify":
        report = bundle.verify(args.path)
        print(report)
        return 0 if report.ok else 1
    if args.off:
        bundle.forget()
        print("peprkit no longer uses a saved bundle.")
    elif args.path:
        root = bundle.remember(args.path)
        print(f"peprkit now looks for datasets, weights and results in {root} first.")
    env = os.environ.get(_paths.BUNDLE_ENV)
    if env:
        print(f"Note: {_paths.BUNDLE_ENV}={env} is set and takes precedence over the saved one.")
    if not (args.off or args.path):
        active = _paths.active_bundle()
        print(f"Bundle in use: {active}" if active else "No bundle in use.")
    return 0


# --- class: pool the learners' results --------------------------------------------
def _add_class(sub) -> None:
    parser = sub.add_parser("class", help="pool a class's sweep results into one calibrated table",
                            description="Pool learners' results.csv files (one per shard): "
                            "validated, de-duplicated, each machine's energy and time divided "
                            "by its own reference-model run (energy_rel, time_rel).")
    cmds = parser.add_subparsers(dest="class_command", required=True, metavar="SUBCOMMAND")
    pool = cmds.add_parser("pool", help="pool results.csv files into one class table")
    pool.add_argument("results", nargs="+", help="the learners' results.csv files")
    pool.add_argument("--out", default="class.csv", help="pooled table to write")
    pool.add_argument("--reference", default="resnet18",
                      help="the calibration model every shard trained")
    pool.add_argument("--allow-mixed", action="store_true",
                      help="accept different epochs, sizes or learning rates within a dataset")


def _cmd_class(args) -> int:
    import warnings

    from peprkit.pool import pool_results

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = pool_results(args.results, reference=args.reference,
                             allow_mixed=args.allow_mixed, out=args.out)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    machines = table["machine"].nunique()
    calibrated = int(table["energy_rel"].notna().sum())
    absent = [c for c in ("hardware", "torch_version") if c not in table.columns]
    print(f"{len(table)} runs from {table['source_file'].nunique()} files on {machines} "
          f"machine(s); {table.attrs.get('duplicates_dropped', 0)} duplicate rows dropped; "
          f"{calibrated} runs calibrated against {args.reference}.")
    if absent:
        print(f"note: the run records have no {', '.join(absent)} column; machine ids use "
              f"{', '.join(table.attrs.get('machine_columns') or ['nothing'])} and the file.")
    print(f"wrote {args.out}")
    return 0


_COMMANDS = {
    "info": (_add_info, _cmd_info),
    "demo": (_add_demo, _cmd_demo),
    "sweep": (_add_sweep, _cmd_sweep),
    "grade": (_add_grade, _cmd_grade),
    "course": (_add_course, _cmd_course),
    "bundle": (_add_bundle, _cmd_bundle),
    "class": (_add_class, _cmd_class),
    "check-submission": (lambda sub: _course_commands().add_check_submission(sub),
                         lambda args: _course_commands().run_check_submission(args)),
    "meter": (lambda sub: _meter().add_parser(sub), lambda args: _meter().run_cli(args)),
}
#: ``peprkit grade TOOL ...``: course tools read by their own parser (peprkit.course.commands).
_GRADE_TOOLS = ("report", "manual", "merge-marks", "export", "similarity", "merge")


def _course_commands():
    from peprkit.course import commands

    return commands


def _meter():  # ``peprkit meter -- CMD``: run a command and meter it
    from peprkit.meter import command

    return command


def _grade_tool(argv: list[str]) -> int:
    """``peprkit grade TOOL ...`` (see :data:`_GRADE_TOOLS`)."""
    commands = _course_commands()
    parser = commands.build_tools_parser(_Parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:
        return int(done.code or 0)
    try:
        return int(commands.run_tool(args) or 0)
    except ValueError as err:
        tool = parser._subparsers._group_actions[0].choices[args.tool]
        print(f"peprkit grade {args.tool}: error: {_name_options(str(err), tool)}",
              file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="peprkit", description=_DESCRIPTION, epilog=_EPILOG)
    parser.add_argument("--version", action="version", version=f"peprkit {__version__}",
                        help="print the version of peprkit and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    for add, _ in _COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "grade" and argv[1] in _GRADE_TOOLS:
        return _grade_tool(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error already printed
        return int(done.code or 0)
    try:
        return int(_COMMANDS[args.command][1](args) or 0)
    except ValueError as err:
        command = parser._subparsers._group_actions[0].choices[args.command]
        print(f"peprkit {args.command}: error: {_name_options(str(err), command)}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"peprkit {args.command}: interrupted; finished work is kept.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
