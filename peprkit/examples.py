"""A small built-in results table for demos, docs and tests (illustrative, NOT measured).

:func:`example_results` returns eight timm models "fine-tuned" on BreastMNIST in the
sweep schema, so ``add_pepr`` and the plots take it without renaming. The numbers were
written by hand to be plausible for 10 epochs at 224 px on one small GPU; nobody measured
them, and every row carries ``synthetic=True`` so plots and tables say so. Use real
results (``peprkit sweep``) for any conclusion.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["CO2_G_PER_KWH", "TEST_IMAGES", "example_results"]

#: Grid carbon intensity (g CO2 per kWh) used to derive ``co2_g`` from ``energy_kwh``.
CO2_G_PER_KWH = 250.0
#: Size of BreastMNIST's test split; accuracies are ``correct / TEST_IMAGES``.
TEST_IMAGES = 156

# model, trainable parameters with a 2-class head (counted with timm), test images correct,
# energy_kwh, peak memory_gb, train_time_s -- all but the parameter counts are illustrative.
_ROWS = [
    ("mobilevitv2_050", 1_114_107, 128, 0.0021, 1.10, 118.0),
    ("mobilenetv3_small_100", 1_519_906, 126, 0.0012, 0.62, 64.0),
    ("convnext_atto", 3_375_162, 133, 0.0024, 1.05, 121.0),
    ("efficientnet_b0", 4_010_110, 132, 0.0031, 1.58, 152.0),
    ("vit_tiny_patch16_224", 5_524_802, 130, 0.0026, 0.94, 133.0),
    ("densenet121", 6_955_906, 136, 0.0058, 2.71, 262.0),
    ("resnet18", 11_177_538, 134, 0.0019, 0.88, 92.0),
    ("resnet50", 23_512_130, 137, 0.0067, 3.12, 281.0),
]


def example_results() -> pd.DataFrame:
    """Eight illustrative (not measured) runs on BreastMNIST in the sweep schema.

    Columns: model, dataset, num_params, test_acc, energy_kwh, co2_g, memory_gb,
    train_time_s, synthetic. ``test_acc = correct / 156`` and
    ``co2_g = energy_kwh * CO2_G_PER_KWH``. A new DataFrame on every call.

    Returns:
        DataFrame with one row per model.

    >>> df = example_results()
    >>> df.shape, bool(df["synthetic"].all())
    ((8, 9), True)
    >>> df.loc[df["model"] == "resnet18", ["test_acc", "energy_kwh", "co2_g"]]
       test_acc  energy_kwh  co2_g
    6  0.858974      0.0019  0.475
    """
    df = pd.DataFrame(
        _ROWS,
        columns=["model", "num_params", "correct", "energy_kwh", "memory_gb", "train_time_s"],
    )
    df.insert(1, "dataset", "breastmnist")
    df.insert(3, "test_acc", df.pop("correct") / TEST_IMAGES)
    df.insert(5, "co2_g", df["energy_kwh"] * CO2_G_PER_KWH)
    df["synthetic"] = True
    return df
