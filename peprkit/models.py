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
_PROBE_SIZES = (32, 48, 64, 96, 128, 160, 192, 224, 256)
_HUB_HOST = ("huggingface.co", 443)


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
