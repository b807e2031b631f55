"""timm models with pretrained weights found offline first, and a curated small zoo.

Pretrained weights are looked up, in order: a local file ``<name>.safetensors``
(or ``.pth``/``.bin``) in a bundle, ``PEPRKIT_WEIGHTS_DIR``, the repo's
``data/weights/`` or peprkit's cache; then the Hugging Face cache; then the hub when it
can be reached. When none works, :func:`create_model` raises
:class:`WeightsNotFoundError` saying how to get them; it never falls back to random
initialisation silently.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from peprkit._paths import describe_searched, find_file
from peprkit._util import atomic_write, did_you_mean, optional_import

#: Curated timm models for MedMNIST fine-tuning, smallest first. Approximate parameters
#: with the 1000-class ImageNet head: 1.6M, 1.9M, 2.5M, 1.3M, 2.7M, 3.7M, 5.3M, 6.5M,
#: 5.5M, 5.7M, 11.7M, 21.8M, 25.6M, 28.6M, 133M (0.6M to 129M with a 2-class head).
SMALL_ZOO: tuple[str, ...] = (
    "mobilenetv3_small_050",
    "lcnet_050",
    "mobilenetv3_small_100",
    "dla46_c",
    "regnetx_002",
    "convnext_atto",
    "efficientnet_b0",
    "ese_vovnet19b_dw",
    "mobilenetv3_large_100",
    "deit_tiny_patch16_224",
    "resnet18",
    "resnet34",
    "resnet50",
    "convnext_tiny",
    "vgg13",
)
#: The models of the lessons' lists that learn BreastMNIST from random weights with the
#: scratch recipe (:data:`peprkit.train.RECIPES`) in the lessons' 10 epochs: above the
#: majority baseline on the test split with balanced accuracy >= 0.65 in each of two seeds
#: (``benchmarks/scratch_recipe.py`` measures it and says when this list is out of date).
#: Without pretrained weights the lessons train only these.
LEARNS_FROM_SCRATCH: tuple[str, ...] = ("regnetx_002", "resnet18", "resnet50")
_PROBE_SIZES = (32, 48, 64, 96, 128, 160, 192, 224, 256)
_HUB_HOST = ("huggingface.co", 443)
#: The paper zoo's data file (one row per architecture), shipped inside the package.
PAPER_ZOO_FILE = Path(__file__).with_name("paper_zoo.csv")
#: Columns of :data:`PAPER_ZOO_FILE`, in order (see :func:`paper_zoo`).
PAPER_ZOO_COLUMNS = (
    "model", "timm_weights", "num_params", "paper_num_params", "min_input_size",
    "imagenet_img_size", "fixed_input_size", "train_gflop_per_image", "cpu_ok", "type",
    "efficient",
)
#: A model is ``cpu_ok`` when one training step (forward + backward) costs at most this many
#: GFLOP per image at its smallest input size. A 2-core laptop sustains roughly 10 to 50
#: GFLOP/s in such training, so an epoch of BreastMNIST (546 images) then takes a few
#: minutes at most, and one of DermaMNIST (7,007 images) well under an hour.
CPU_OK_GFLOP_PER_IMAGE = 3.0


def _read_paper_zoo() -> tuple[dict[str, str], ...]:
    import csv

    with open(PAPER_ZOO_FILE, newline="", encoding="utf-8") as handle:
        return tuple(csv.DictReader(handle))


#: The PePR paper's 131 timm architectures, by the names the authors trained them under
#: (their ``model_names.csv``), smallest first. Details per model: :func:`paper_zoo`.
#: Seven ``gluon_*``/``adv_*`` names are aliases in today's timm (e.g. ``gluon_resnet34_v1b``
#: is ``resnet34.gluon_in1k``) and ``gluon_xception65`` is no longer in timm.
PAPER_ZOO: tuple[str, ...] = tuple(row["model"] for row in _read_paper_zoo())


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights could not be found locally nor fetched."""


def _timm():
    return optional_import("timm", extra="train")


def check_model_name(name: str) -> str:
    """Return ``name`` if timm knows it, else raise ValueError with close matches.

    Raises:
        ValueError: unknown model name.
    """
    timm = _timm()
    if not timm.is_model(name.split(".")[0]):
        known = list(SMALL_ZOO) + timm.list_models()
        raise ValueError(
            f"model={name!r} is not a timm model.{did_you_mean(name, known)} "
            f"See peprkit.models.SMALL_ZOO or timm.list_models()."
        )
    return name


def weights_filenames(name: str) -> list[str]:
    """Local file names accepted for ``name``'s pretrained weights, preferred first.

    >>> weights_filenames("resnet18")
    ['resnet18.safetensors', 'resnet18.pth', 'resnet18.bin']
    """
    return [f"{name}.{ext}" for ext in ("safetensors", "pth", "bin")]


def _hf_cached(name: str) -> Path | None:
    hub = optional_import("huggingface_hub", extra="train")
    cfg = _timm().models.get_pretrained_cfg(name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = hub.try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return Path(found)
    return None


def find_weights(name: str) -> tuple[Path | None, list[tuple[str, Path]]]:
    """Find ``name``'s weights offline: local weights folders, then the Hugging Face cache.

    Returns:
        ``(path or None, searched folders)``.
    """
    searched: list[tuple[str, Path]] = []
    for filename in weights_filenames(name):
        path, searched = find_file(filename, "weights")
        if path is not None:
            return path, searched
    cached = _hf_cached(name)
    searched.append(("huggingface cache", Path(os.environ.get("HF_HOME", "~/.cache/huggingface"))))
    return cached, searched


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """Whether the Hugging Face hub can be reached (False at once when ``HF_HUB_OFFLINE`` is set).

    Checked before a download so that an offline machine fails in seconds, not after
    the hub client's minute of retries.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    try:
        socket.create_connection(_HUB_HOST, timeout=timeout_s).close()
    except Exception:  # DNS failure, refused, timeout, or a test's network guard
        return False
    return True


def _missing_weights(name: str, searched: list[tuple[str, Path]], reason: str) -> str:
    return (
        f"No pretrained weights for {name!r}: {reason}.\nSearched:\n{describe_searched(searched)}\n"
        "Fix, any of: (1) run once online (timm fetches them from the Hugging Face hub and "
        f"caches them); (2) where online, run `python -c \"from peprkit.models import "
        f"download_weights; download_weights('{name}', 'data/weights')\"` and copy "
        f"{name}.safetensors into PEPRKIT_WEIGHTS_DIR or the repo's data/weights/; "
        "(3) use a workshop bundle that has it (`peprkit bundle use <folder>`); "
        "or (4) pass pretrained=False to train from scratch (results then say so)."
    )


def create_model(name: str, *, pretrained: bool = True, num_classes: int = 2, in_chans: int = 3):
    """A ``timm`` model with a fresh ``num_classes`` head, pretrained weights found as above.

    timm adapts the weights: the classifier is re-initialised for ``num_classes`` and
    the first convolution is summed over colour channels for ``in_chans=1``. The
    weights used are recorded in ``model.peprkit_weights`` (a path, ``"hub"`` or
    ``"random init"``).

    Args:
        name: a timm model name, e.g. ``"resnet18"`` (see :data:`SMALL_ZOO`).
        pretrained: load ImageNet weights (never silently skipped).
        num_classes: outputs of the new head.
        in_chans: image channels (1 for grey MedMNIST sets, 3 for RGB).

    Returns:
        A ``torch.nn.Module``.

    Raises:
        ValueError: unknown model name (with close matches).
        WeightsNotFoundError: ``pretrained=True`` and no weights can be had; the message
            says how to get them.
    """
    timm = _timm()
    check_model_name(name)
    kwargs = dict(num_classes=int(num_classes), in_chans=int(in_chans))
    if not pretrained:
        model = timm.create_model(name, pretrained=False, **kwargs)
        model.peprkit_weights = "random init"
        return model
    path, searched = find_weights(name)
    if path is not None:
        model = timm.create_model(
            name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs
        )
        model.peprkit_weights = str(path)
        return model
    if not hub_reachable():
        raise WeightsNotFoundError(_missing_weights(name, searched, "offline, none found locally"))
    try:
        model = timm.create_model(name, pretrained=True, **kwargs)
    except (OSError, RuntimeError) as err:
        reason = f"download failed ({err})"
        raise WeightsNotFoundError(_missing_weights(name, searched, reason)) from err
    model.peprkit_weights = "hub"
    return model


def download_weights(name: str, folder: str | os.PathLike) -> Path:
    """Fetch ``name``'s ImageNet weights through timm and save ``<folder>/<name>.safetensors``.

    The file (written atomically) is what :func:`create_model` finds offline later.

    Raises:
        ValueError: unknown model name.
        WeightsNotFoundError: the hub cannot be reached.
    """
    safetensors_torch = optional_import("safetensors.torch", extra="train", package="safetensors")
    model = create_model(name, pretrained=True, num_classes=1000, in_chans=3)
    tensors = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    return atomic_write(Path(folder).expanduser() / weights_filenames(name)[0],
                        safetensors_torch.save(tensors))


def count_params(model) -> int:
    """Number of parameters of a ``torch.nn.Module``."""
    return int(sum(p.numel() for p in model.parameters()))


def input_size_for(model, size: int, in_chans: int = 3) -> int:
    """Smallest square input side >= ``size`` that ``model`` accepts.

    Fixed-size models (ViTs) get their pretrained size; others are probed with a
    forward pass of a zero batch at ``size``, then 32, 48, 64, ... px. Training resizes
    each batch to this size on the fly.

    Raises:
        ValueError: no size up to 256 px works.
    """
    torch = optional_import("torch", extra="train")
    cfg = getattr(model, "pretrained_cfg", None) or {}
    if cfg.get("fixed_input_size"):
        return int(cfg["input_size"][-1])
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        for side in (size, *(s for s in _PROBE_SIZES if s > size)):
            try:
                with torch.no_grad():
                    model(torch.zeros(2, in_chans, side, side, device=device))
            except (RuntimeError, ValueError, AssertionError):
                continue
            return int(side)
    finally:
        model.train(was_training)
    raise ValueError(f"model {type(model).__name__} accepts no input size in {size}..256 px.")


def paper_zoo(*, cpu_ok: bool | None = None):
    """The paper's 131 architectures as a table (pandas), one row per model, smallest first.

    Columns (:data:`PAPER_ZOO_COLUMNS`):

    - ``model``: the name the authors trained (a timm name or alias);
    - ``timm_weights``: the ``architecture.tag`` of timm's default pretrained weights for
      it (the weights ``create_model(model, pretrained=True)`` loads), empty when timm no
      longer has the model;
    - ``num_params``: parameters with timm's 1000-class ImageNet head (``pretrained=False``);
      ``paper_num_params``: the authors' count (their fine-tuning head);
    - ``min_input_size``: smallest square side >= 28 px it runs at (:func:`input_size_for`);
      ``fixed_input_size``: True for models that only take their pretrained size;
    - ``imagenet_img_size``: the test image size of the default weights' ImageNet result;
    - ``train_gflop_per_image``: GFLOP of one training step (forward and backward) per image
      at ``min_input_size``, counted by ``torch.utils.flop_counter`` (machine-independent);
      ``cpu_ok``: at most :data:`CPU_OK_GFLOP_PER_IMAGE`;
    - ``type`` (``CNN`` or ``Other``) and ``efficient`` (1: designed for efficiency): the
      authors' labels.

    The table was built once with :func:`describe_model` (``time_it=False``) for every
    name, with timm 1.0; the authors' names, counts and labels come from their model list.

    Args:
        cpu_ok: True keeps only the models that train on a CPU in reasonable time, False
            only the others, None all.

    Example:
        >>> zoo = paper_zoo()
        >>> len(zoo), bool(zoo["model"].is_unique)
        (131, True)
        >>> bool(zoo.set_index("model").loc["efficientnet_b0", "cpu_ok"])
        True
    """
    import pandas as pd

    table = pd.DataFrame(list(_read_paper_zoo()), columns=list(PAPER_ZOO_COLUMNS))
    for col in ("num_params", "paper_num_params", "min_input_size", "imagenet_img_size",
                "efficient"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    table["train_gflop_per_image"] = pd.to_numeric(table["train_gflop_per_image"],
                                                   errors="coerce")
    for col in ("cpu_ok", "fixed_input_size"):
        table[col] = table[col].str.lower().eq("true")
    table["timm_weights"] = table["timm_weights"].fillna("")
    if cpu_ok is not None:
        table = table[table["cpu_ok"] == bool(cpu_ok)].reset_index(drop=True)
    return table


def default_weights(name: str) -> str | None:
    """``architecture.tag`` of the pretrained weights timm loads for ``name`` by default.

    Resolves timm's deprecated aliases (``gluon_resnet34_v1b`` -> ``resnet34.gluon_in1k``);
    a name that already has a tag is returned as it is. None when timm does not know the
    model or has no pretrained weights for it.

    >>> default_weights("resnet18")  # doctest: +SKIP
    'resnet18.a1_in1k'
    """
    registry = optional_import("timm.models._registry", extra="train", package="timm")
    name = registry.get_deprecated_models().get(name, name)
    arch, tag = registry.split_model_name_tag(name)
    if tag:
        return name
    default = registry._model_default_cfgs.get(arch)
    if default is None or not default.tags or not default.tags[0]:
        return None
    return f"{arch}.{default.tags[0]}"


def describe_model(name: str, *, size: int = 28, time_it: bool = False,
                   batch: int = 8) -> dict:
    """Facts about one timm model, measured offline (no weights are downloaded).

    Creates the model with ``pretrained=False`` and a 1000-class head, counts its
    parameters, finds the smallest input side >= ``size`` it runs at, counts the FLOPs of
    one training step there and, with ``time_it``, times one (forward and backward of
    ``batch`` images, one CPU thread, after one warm-up step).

    Returns:
        A dict with ``model``, ``timm_weights``, ``num_params``, ``min_input_size``,
        ``imagenet_img_size``, ``fixed_input_size``, ``train_gflop_per_image``,
        ``cpu_ms_per_image`` (NaN without ``time_it``) and ``cpu_ok``.

    Raises:
        ValueError: unknown model name.
    """
    import time

    timm = _timm()
    torch = optional_import("torch", extra="train")
    check_model_name(name)
    model = timm.create_model(name, pretrained=False)
    weights = default_weights(name) or ""
    cfg = timm.models.get_pretrained_cfg(weights) if weights else None
    test_size = None
    if cfg is not None:
        test_size = (getattr(cfg, "test_input_size", None) or cfg.input_size)[-1]
    side = input_size_for(model, size)
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    with FlopCounterMode(display=False) as counter:
        out = model(torch.randn(2, 3, side, side))
        torch.nn.functional.cross_entropy(out, torch.zeros(2, dtype=torch.long)).backward()
    gflop = counter.get_total_flops() / 2 / 1e9
    model.zero_grad(set_to_none=True)
    ms = float("nan")
    if time_it:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            model.train()
            x = torch.randn(batch, 3, side, side)
            y = torch.zeros(batch, dtype=torch.long)
            timings = []
            for _ in range(2):
                start = time.perf_counter()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                timings.append(time.perf_counter() - start)
            ms = 1000.0 * timings[-1] / batch
        finally:
            torch.set_num_threads(threads)
    return {
        "model": name, "timm_weights": weights, "num_params": count_params(model),
        "min_input_size": int(side), "imagenet_img_size": test_size,
        "fixed_input_size": bool(getattr(cfg, "fixed_input_size", False)) if cfg else False,
        "train_gflop_per_image": round(gflop, 4), "cpu_ms_per_image": round(ms, 2),
        "cpu_ok": gflop <= CPU_OK_GFLOP_PER_IMAGE,
    }
