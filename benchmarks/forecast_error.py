"""How far the forecasts made early were from what the runs finally cost, on real BreastMNIST.

Trains ``--models`` (random init, ``--epochs`` epochs, the lessons' scratch recipe unless
``--recipe`` says otherwise) as one sweep, each run in its own forked worker
(``isolate=True``), and prints per model:

- the **run forecast** made after its epoch 1 (``forecast_time_s``,
  ``forecast_energy_kwh``: epoch 1 x epochs) against the run's final ``train_time_s`` and
  ``energy_kwh``, with the error ``forecast / actual - 1``;
- the **sweep forecast** made after the sweep's first run (``<out>_forecast.csv``: the
  first run scaled to the others by training GFLOP per image, see
  ``peprkit.train._forecast.sweep_forecast``) against the same actual time.

Needs BreastMNIST (``breastmnist.npz``) where ``load_medmnist`` looks (e.g.
``PEPRKIT_DATA_DIR``); CPU-heavy: with the defaults about 3-5 minutes on 2 cores.

    PEPRKIT_DATA_DIR=/work/shared/data python benchmarks/forecast_error.py
    PEPRKIT_DATA_DIR=/work/shared/data python benchmarks/forecast_error.py --fraction 1 \\
        --models resnet18 --epochs 10
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

MODELS = ("resnet18", "mobilenetv3_small_100", "regnetx_002")


def _error(forecast: float, actual: float) -> str:
    if not (forecast == forecast and actual == actual and actual > 0):
        return "   n/a"
    return f"{forecast / actual - 1:+6.0%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--fraction", type=float, default=0.5,
                        help="fraction of the 546 training images (stratified, seed 0)")
    parser.add_argument("--recipe", default="auto", choices=("auto", "finetune", "scratch"),
                        help="auto: the scratch recipe (random init, at least 64 px)")
    parser.add_argument("--out", default=None, help="keep results.csv here (default: temp)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    import pandas as pd

    from peprkit.data import load_medmnist
    from peprkit.sweep import run_sweep

    data = load_medmnist("breastmnist", download=False)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "results.csv"
        began = time.perf_counter()
        table = run_sweep(args.models, data, epochs=args.epochs, out=out, pretrained=(False,),
                          fractions=(args.fraction,), isolate=True, quiet=True,
                          recipe=args.recipe, country="DK")
        wall = time.perf_counter() - began
        sweep_file = out.parent / f"{out.stem}_forecast.csv"
        sweep = (pd.read_csv(sweep_file).set_index("model") if sweep_file.is_file()
                 else pd.DataFrame(columns=["forecast_time_s"]))
    print(f"BreastMNIST, {len(data.train)} x {args.fraction:g} training images, "
          f"{args.epochs} epochs, recipe {args.recipe}, pretrained=False; sweep wall "
          f"{wall:.0f} s; {table['hardware'].iloc[0]}, {int(table['threads'].iloc[0])} threads")
    print(f"energy source: cpu {table['cpu_source'].iloc[0]}, ram {table['ram_source'].iloc[0]}, "
          f"gpu {table['gpu_source'].iloc[0]}")
    head = (f"{'model':22s} {'px':>3s} | {'time_s: fcst@ep1':>16s} {'actual':>7s} {'err':>6s} | "
            f"{'energy_kwh: fcst@ep1':>20s} {'actual':>8s} {'err':>6s} | "
            f"{'sweep fcst@run1 time_s':>22s} {'err':>6s}")
    print(head)
    print("-" * len(head))
    for row in table.to_dict("records"):
        model = row["model"]
        sweep_time = (float(sweep.loc[model, "forecast_time_s"]) if model in sweep.index
                      else float("nan"))
        sweep_text = f"{sweep_time:22.1f}" if sweep_time == sweep_time else f"{'(first run)':>22s}"
        print(f"{model:22s} {int(row['input_size']):3d} | {row['forecast_time_s']:16.1f} "
              f"{row['train_time_s']:7.1f} {_error(row['forecast_time_s'], row['train_time_s'])}"
              f" | {row['forecast_energy_kwh']:20.3g} {row['energy_kwh']:8.3g} "
              f"{_error(row['forecast_energy_kwh'], row['energy_kwh'])} | {sweep_text} "
              f"{_error(sweep_time, row['train_time_s'])}")
    print(f"labels: {table['forecast_source'].iloc[0]}; sweep: "
          f"{sweep['forecast_source'].iloc[0] if len(sweep) else 'n/a'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
