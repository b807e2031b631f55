"""What goes where in a bundle: the file that each part of a selection becomes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One file a bundle's selection asks for."""

    path: str  # relative, with "/" separators
    kind: str  # dataset | weights | results
    name: str  # flag, model, or "paper"
    size: int = 0  # image size of a dataset


def weights_name(model: str) -> str:
    """The file name of ``model``'s weights in a bundle's ``weights/`` folder."""
    from peprkit.models import weights_filenames

    return weights_filenames(model)[0]


def results_name(name: str = "paper") -> str:
    """The file name of the paper's results (``"paper"``) or of its copy of timm's ImageNet
    results (``"imagenet"``, Figure 4b) in a bundle's ``results/`` folder."""
    from peprkit.paper import FILE_NAME, IMAGENET_FILE

    return IMAGENET_FILE if name == "imagenet" else FILE_NAME


def plan(request: dict) -> list[Item]:
    """The files of a selection (the manifest's ``request``), datasets first.

    >>> [item.path for item in plan({"datasets": ["breastmnist"], "sizes": [28, 64],
    ...                              "models": [], "paper_results": True})]
    ['datasets/breastmnist.npz', 'datasets/breastmnist_64.npz', 'results/all_results.csv',
     'results/results-imagenet.csv']
    """
    from peprkit.data import dataset_filename

    items = [Item(f"datasets/{dataset_filename(flag, size)}", "dataset", flag, size)
             for flag in request.get("datasets", ()) for size in request.get("sizes", ())]
    items += [Item(f"weights/{weights_name(m)}", "weights", m) for m in request.get("models", ())]
    if request.get("paper_results"):
        items += [Item(f"results/{results_name(n)}", "results", n) for n in ("paper", "imagenet")]
    return items
