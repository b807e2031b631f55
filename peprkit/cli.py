"""The ``peprkit`` command: ``info | demo | sweep | grade | bundle``.

Each sub-command has a ``_add_<name>(subparsers)`` that declares its arguments and a
``_cmd_<name>(args) -> int`` that runs it. A ``ValueError`` (bad argument) is printed as
one line and exits with code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys


# --- info (issue 4) --------------------------------------------------------------
def _add_info(sub) -> None:
    sub.add_parser("info", help="versions, device, what the meter can measure, offline files")


def _cmd_info(args) -> int:
    raise NotImplementedError


# --- demo (issue 4) --------------------------------------------------------------
def _add_demo(sub) -> None:
    sub.add_parser("demo", help="fine-tune a few small models and print a PePR table")


def _cmd_demo(args) -> int:
    raise NotImplementedError


# --- sweep (issue 4) -------------------------------------------------------------
def _add_sweep(sub) -> None:
    sub.add_parser("sweep", help="run a resumable grid of fine-tuning runs")


def _cmd_sweep(args) -> int:
    raise NotImplementedError


# --- grade (issue 5) -------------------------------------------------------------
def _add_grade(sub) -> None:
    sub.add_parser("grade", help="grade student notebooks with otter-grader")


def _cmd_grade(args) -> int:
    raise NotImplementedError


# --- bundle (issue 7) ------------------------------------------------------------
def _add_bundle(sub) -> None:
    parser = sub.add_parser("bundle", help="create, verify or use an offline workshop bundle")
    cmds = parser.add_subparsers(dest="bundle_command", required=True)
    create = cmds.add_parser(
        "create", help="fill a bundle folder (run online; resumable; extends an existing one)")
    create.add_argument("out", help="bundle folder (new, empty, or an existing bundle)")
    create.add_argument("--datasets", default="", help="MedMNIST flags: breastmnist,...")
    create.add_argument("--sizes", default=None, help="image sizes of every dataset (default 28)")
    create.add_argument("--models", default="", help="timm models, e.g. resnet18,efficientnet_b0")
    create.add_argument("--paper-results", action="store_true",
                        help="include the PePR paper's all_results.csv (notebook 06)")
    create.add_argument("--wheels", action="store_true",
                        help="include CPU wheels for an offline pip install")
    create.add_argument("--platforms", default="linux,windows,macos",
                        help="wheel platforms: linux (x86-64), windows (x64), macos (arm64, 14+)")
    create.add_argument("--python", default=None,
                        help="wheel Python versions, e.g. 3.10,3.11,3.12 (default: this one)")
    create.add_argument("--source", default=None,
                        help="copy from this folder (e.g. another bundle) instead of downloading")
    create.add_argument("--dry-run", action="store_true", help="print the plan, fetch nothing")
    verify = cmds.add_parser("verify", help="recompute checksums; exit 1 on any problem")
    verify.add_argument("path")
    use = cmds.add_parser("use", help="make peprkit look in this bundle first (saved per user)")
    use.add_argument("path", nargs="?", help="bundle folder; none: show the bundle in use")
    use.add_argument("--off", action="store_true", help="stop using the saved bundle")


def _cmd_bundle(args) -> int:
    import os

    from peprkit import _paths, bundle

    def split(text: str | None) -> list[str] | None:
        return None if text is None else [part.strip() for part in text.split(",") if part.strip()]

    if args.bundle_command == "create":
        bundle.create(
            args.out, datasets=split(args.datasets), sizes=split(args.sizes),
            models=split(args.models), paper_results=args.paper_results, wheels=args.wheels,
            platforms=split(args.platforms), pythons=split(args.python),
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


_COMMANDS = {
    "info": (_add_info, _cmd_info),
    "demo": (_add_demo, _cmd_demo),
    "sweep": (_add_sweep, _cmd_sweep),
    "grade": (_add_grade, _cmd_grade),
    "bundle": (_add_bundle, _cmd_bundle),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peprkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in _COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(_COMMANDS[args.command][1](args) or 0)
    except ValueError as err:
        print(f"peprkit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"peprkit {args.command}: interrupted; finished work is kept.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
