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


# --- demo (issue 4) --------------------------------------------------------------
def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="fine-tune a few small models and print a PePR table")
    # small zoo models: a few minutes in all on a 2-core CPU
    models = ["mobilenetv3_small_050", "lcnet_050", "regnetx_002", "resnet18"]
    p.add_argument("--models", nargs="+", default=models, help="timm model names")
    p.add_argument("--dataset", default="breastmnist", help="2D MedMNIST flag (28 px)")
    p.add_argument("--epochs", type=int, default=5, help="epochs per model (default 5)")
    p.add_argument("--out", default="peprkit-demo", help="folder for results.csv and pareto.png")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _cmd_demo(args) -> int:
    import warnings
    from pathlib import Path

    from peprkit._paths import cache_dir
    from peprkit.data import load_medmnist, load_npz, make_synthetic
    from peprkit.metric import add_pepr
    from peprkit.models import check_model_name, find_weights, hub_reachable
    from peprkit.sweep import read_results, run_sweep

    for name in args.models:
        check_model_name(name)
    warnings.filterwarnings("once", message="No country or intensity given")
    out = Path(args.out)
    try:
        data = load_medmnist(args.dataset)
        print(f"Data: {data.name}, real MedMNIST from {data.source} "
              f"({len(data.train)}/{len(data.val)}/{len(data.test)} train/val/test images)")
    except FileNotFoundError as err:
        path = cache_dir() / "demo" / "synthetic.npz"
        if not path.is_file():
            make_synthetic(path, n_classes=2, n_channels=1, size=28, n_train=300, seed=0)
        data = load_npz(path)
        bar = "!" * 78
        print(f"{bar}\n!!! SYNTHETIC DATA: {args.dataset} is not available offline and could not "
              "be downloaded.\n!!! These are made-up stripe/blob images, NOT medical results; "
              f"tables and plots say 'synthetic'.\n!!! Why: {str(err).splitlines()[0]}\n{bar}")
    online = None
    plan = []
    for name in args.models:
        has_weights = find_weights(name)[0] is not None
        if not has_weights:
            online = hub_reachable() if online is None else online
        plan.append((name, has_weights or online))
        if not (has_weights or online):
            print(f"{name}: no pretrained weights offline -> trained FROM SCRATCH "
                  "(pretrained=False). Get weights with `peprkit bundle` or PEPRKIT_WEIGHTS_DIR.")
    results = out / "results.csv"
    for name, pretrained in plan:
        run_sweep([name], data, epochs=args.epochs, out=results, pretrained=(pretrained,),
                  quiet=args.quiet)
    table = read_results(results)
    mine = table["model"].isin(args.models) & (table["dataset"] == data.flag) & (
        table["epochs"] == args.epochs)
    scored = add_pepr(table[mine], performance="test_acc",
                      resources={"e": "energy_kwh", "t": "train_time_s"}, by="dataset")
    scored = scored.sort_values("pepr_e", ascending=False)
    label = " (SYNTHETIC DATA)" if data.synthetic else ""
    print(f"\nPePR = test_acc / (1 + R), R min-max normalised over these models{label}:")
    cols = ["model", "pretrained", "num_params", "test_acc", "energy_kwh", "train_time_s",
            "pepr_e", "pepr_t"]
    print(scored[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    import matplotlib

    matplotlib.use("Agg")
    from peprkit.plot import pareto

    ax = pareto(scored, performance="test_acc", resource="energy_kwh", label="model")
    ax.set_title(f"{ax.get_title()}\n{data.name}, {args.epochs} epochs")
    ax.figure.savefig(out / "pareto.png", dpi=120, bbox_inches="tight")
    print(f"\nWrote {results} and {out / 'pareto.png'}")
    return 0


# --- sweep (issue 4) -------------------------------------------------------------
def _add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="run a resumable grid of fine-tuning runs")
    p.add_argument("--models", nargs="+", required=True, help="timm model names (or a,b,c)")
    p.add_argument("--dataset", required=True, help="2D MedMNIST flag, or a path to an .npz")
    p.add_argument("--size", type=int, default=28, help="image size: 28, 64, 128 or 224")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", default="results.csv", help="results CSV (appended, resumable)")
    p.add_argument("--pretrained", choices=("yes", "no", "both"), default="yes")
    p.add_argument("--fractions", type=float, nargs="+", default=[1.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--shard", default=None, help="i/n: run every n-th job from the i-th (0-based)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-download", action="store_true", help="never download the dataset")
    p.add_argument("--quiet", action="store_true")


def _cmd_sweep(args) -> int:
    from pathlib import Path

    from peprkit.data import load_medmnist, load_npz
    from peprkit.models import check_model_name
    from peprkit.sweep import make_jobs, run_sweep

    models = [m for item in args.models for m in item.split(",") if m]
    for name in models:
        check_model_name(name)
    shard = None
    if args.shard is not None:
        parts = args.shard.split("/")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"--shard {args.shard!r} must look like i/n, e.g. 0/4.")
        shard = (int(parts[0]), int(parts[1]))
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
                          device=args.device)
    except FileNotFoundError as err:  # dataset or pretrained weights missing: say how to get them
        print(f"peprkit sweep: error: {err}", file=sys.stderr)
        return 1
    print(f"{len(table)} runs in {args.out}")
    return 0


# --- grade (issue 5) -------------------------------------------------------------
def _add_grade(sub) -> None:
    p = sub.add_parser(
        "grade", help="grade student notebooks with otter-grader (local, no Docker)",
        description="Grade notebooks of one lesson; writes one CSV row per submission and "
        "question. The autograder, hidden tests included, is built from the lesson's master.",
    )
    p.add_argument("submissions", nargs="+", help="student notebooks (.ipynb) or folders of them")
    p.add_argument("--lesson", required=True, help='lesson number or name, e.g. "01"')
    p.add_argument("--out", default="grades.csv", help="CSV to write (default grades.csv)")
    p.add_argument("--source", default=None, help="folder of master notebooks "
                   "(default notebooks/source; point it at a private copy to keep tests hidden)")
    p.add_argument("--timeout", type=float, default=1200.0,
                   help="seconds allowed for one whole submission (default 1200)")
    p.add_argument("--cell-timeout", type=float, default=300.0,
                   help="seconds allowed for one cell or test (default 300)")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    p.add_argument("--full", action="store_true",
                   help="run submissions in full mode instead of PEPRKIT_QUICK=1")
    p.add_argument("--restart", action="store_true",
                   help="regrade everything instead of keeping the rows already in --out")


def _cmd_grade(args) -> int:
    from peprkit.grading import grade, summary

    grades = grade(
        args.submissions, lesson=args.lesson, out=args.out, source_dir=args.source,
        timeout_s=args.timeout, cell_timeout_s=args.cell_timeout, quick=not args.full,
        jobs=args.jobs, resume=not args.restart,
    )
    print(summary(grades).to_string(index=False))
    problems = grades[grades["status"].isin(["error", "timeout"])]
    for row in problems.drop_duplicates("submission").itertuples():
        print(f"{row.submission}: {row.status}: {row.message}", file=sys.stderr)
    print(f"wrote {len(grades)} rows to {args.out}")
    return 0


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
    create.add_argument("--pythons", default=None,
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
            platforms=split(args.platforms), pythons=split(args.pythons),
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
