"""From-scratch training on real BreastMNIST: the fine-tuning recipe against the scratch recipe.

Every model the lessons train from scratch (``--models``), ``--seeds`` seeds, the lessons'
default ``--epochs`` (10), 28 px, no pretrained weights. For each run it prints test
accuracy beside the majority baseline (0.731 on BreastMNIST's test split), balanced
accuracy, AUC, validation accuracy (the split the recipe was chosen on) and CPU seconds
(``train_cpu_s``: the process's CPU time, training + evaluation). Target: every model above
the majority baseline in every seed with balanced accuracy >= 0.65.

Runs train in this process one after another with the kit's thread policy (threads = the
cores of the machine, passive OpenMP waiting). ``--set key=value`` changes the scratch
recipe for a selection experiment (e.g. ``--set lr=3e-3 --set class_weights=0.5``); choose
on ``val_acc`` / validation balanced accuracy, never on test.

    PEPRKIT_DATA_DIR=/work/shared/data python benchmarks/scratch_recipe.py
    python benchmarks/scratch_recipe.py --data /path/breastmnist.npz --models resnet18 \\
        --seeds 0 --recipes scratch --epochs 5
"""

from __future__ import annotations

import argparse
import ast
import os
import time
import warnings

LESSON_MODELS = ("mobilenetv3_small_050", "lcnet_050", "mobilenetv3_small_100", "regnetx_002",
                 "efficientnet_b0", "resnet18")


def _data(path: str | None):
    from peprkit.data import load_medmnist, load_npz

    if path:
        return load_npz(path, flag="breastmnist")
    return load_medmnist("breastmnist", download=False)


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        from peprkit.train import RECIPES

        if key not in RECIPES["scratch"]:
            raise ValueError(f"--set {pair!r}: {key!r} is not a recipe setting; use one of "
                             f"{', '.join(RECIPES['scratch'])}.")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _val_balanced(run, data) -> float:
    from peprkit.train import evaluate

    return evaluate(run.model, data, split="val").balanced_acc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="breastmnist .npz (default: found offline)")
    parser.add_argument("--models", default=",".join(LESSON_MODELS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--recipes", default="finetune,scratch",
                        help="'finetune' (the fine-tuning recipe from scratch: the former "
                             "default) and/or 'scratch'")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a scratch-recipe setting (selection runs)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from peprkit import train

    overrides = _overrides(args.set)
    train.RECIPES["scratch"].update(overrides)
    data = _data(args.data)
    models, seeds = args.models.split(","), [int(s) for s in args.seeds.split(",")]
    recipes = args.recipes.split(",")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min); data {data!r}; epochs "
          f"{args.epochs}; scratch recipe {train.RECIPES['scratch']}")
    print(f"{'recipe':9} {'model':22} {'seed':>4} {'test_acc':>8} {'bal_acc':>7} {'auc':>6} "
          f"{'val_acc':>7} {'val_bal':>7} {'cpu_s':>7} {'wall_s':>7}  majority")
    rows = []
    for model in models:
        for recipe in recipes:
            for seed in seeds:
                t0 = time.perf_counter()
                run = train.finetune(model, data, epochs=args.epochs, pretrained=False,
                                     recipe=recipe, seed=seed, quiet=True, meter=False)
                wall = time.perf_counter() - t0
                s = run.summary.iloc[0]
                vb = _val_balanced(run, data)
                ok = s["test_acc"] > s["majority_acc"] and s["test_balanced_acc"] >= 0.65
                rows.append((recipe, model, ok))
                print(f"{recipe:9} {model:22} {seed:>4} {s['test_acc']:>8.3f} "
                      f"{s['test_balanced_acc']:>7.3f} {s['test_auc']:>6.3f} {s['val_acc']:>7.3f} "
                      f"{vb:>7.3f} {s['train_cpu_s']:>7.1f} {wall:>7.1f}  {s['majority_acc']:.3f}"
                      f"{'  ok' if ok else ''}", flush=True)
    for recipe in recipes:
        good = sorted({m for r, m, _ in rows if r == recipe}
                      - {m for r, m, ok in rows if r == recipe and not ok})
        print(f"{recipe}: beats the majority with balanced acc >= 0.65 in every seed: "
              f"{len(good)}/{len(models)} models {good}")
        if recipe == "scratch" and not overrides:
            from peprkit.models import LEARNS_FROM_SCRATCH

            listed = set(LEARNS_FROM_SCRATCH) & set(models)
            if listed != set(good):
                print(f"  peprkit.models.LEARNS_FROM_SCRATCH is out of date for these models: "
                      f"add {sorted(set(good) - listed)}, remove {sorted(listed - set(good))}")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min); acc, bal_acc, auc: test split; "
          "cpu_s: train_cpu_s [process CPU seconds, training + evaluation]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
