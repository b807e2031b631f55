"""MedMNIST data held in memory as uint8 tensors, plus a learnable synthetic stand-in.

The ``.npz`` files are read directly (medmnist's ``Dataset`` decodes every image
through PIL, which is slow, and asserts the official split sizes). Images stay uint8
in memory, shape ``(N, C, H, W)``; the trainer converts and normalises them per batch.

Tasks: ``multi-class`` and ``binary-class`` use cross-entropy; ``multi-label,
binary-class`` (chestmnist) uses one sigmoid per label (BCE) with accuracy and AUC
averaged over labels; ``ordinal-regression`` (retinamnist) is treated as plain
multi-class classification with cross-entropy (the grade order is not used), which
``Data.task_note`` says.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from peprkit._paths import describe_searched, find_file
from peprkit._util import atomic_write, did_you_mean, optional_import

#: Image sizes MedMNIST+ publishes for every 2D dataset.
SIZES = (28, 64, 128, 224)
#: Tasks this module can train (see the module docstring for the loss of each).
SUPPORTED_TASKS = ("multi-class", "binary-class", "multi-label, binary-class", "ordinal-regression")
_SPLITS = ("train", "val", "test")


def _info() -> dict[str, dict[str, Any]]:
    return optional_import("medmnist.info", extra="train", package="medmnist").INFO


def flags_2d() -> list[str]:
    """Every 2D MedMNIST flag known to the installed ``medmnist`` (3D ones end in ``mnist3d``)."""
    return [flag for flag in _info() if not flag.endswith("3d")]


def _check_flag_size(flag: str, size: int) -> None:
    flags = flags_2d()
    if flag not in flags:
        if flag in _info():
            raise ValueError(
                f"flag={flag!r} is a 3D MedMNIST dataset; peprkit trains 2D image models. "
                f"Use one of: {', '.join(flags)}."
            )
        raise ValueError(
            f"flag={flag!r} is not a 2D MedMNIST dataset.{did_you_mean(flag, flags)} "
            f"Known flags: {', '.join(flags)}."
        )
    if size not in SIZES:
        raise ValueError(
            f"size={size!r} is not a MedMNIST image size; use one of {', '.join(map(str, SIZES))}."
        )


def dataset_filename(flag: str, size: int = 28) -> str:
    """MedMNIST's file name for ``flag`` at ``size`` px.

    >>> dataset_filename("breastmnist", 28), dataset_filename("breastmnist", 64)
    ('breastmnist.npz', 'breastmnist_64.npz')
    """
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def expected_md5(flag: str, size: int = 28) -> str:
    """The MD5 ``medmnist.INFO`` lists for the official file (checked only when downloading)."""
    return _info()[flag]["MD5" if size == 28 else f"MD5_{size}"]


def medmnist_default_root() -> Path:
    """medmnist's own download folder (``~/.medmnist``)."""
    return Path(optional_import("medmnist.info", extra="train", package="medmnist").DEFAULT_ROOT)


def download_medmnist(
    flag: str, *, size: int = 28, root: str | os.PathLike | None = None,
) -> Path:
    """Download ``flag`` at ``size`` px with medmnist's own downloader (it checks the MD5).

    Args:
        flag: a 2D MedMNIST flag, e.g. ``"breastmnist"``.
        size: 28, 64, 128 or 224.
        root: target folder (created); default medmnist's ``~/.medmnist``.

    Returns:
        The path of the downloaded (or already present and verified) ``.npz``.

    Raises:
        ValueError: unknown flag or size.
        RuntimeError: the download failed (offline, or MD5 mismatch).
    """
    _check_flag_size(flag, size)
    medmnist = optional_import("medmnist", extra="train")
    folder = Path(root).expanduser() if root is not None else medmnist_default_root()
    folder.mkdir(parents=True, exist_ok=True)
    cls = getattr(medmnist, _info()[flag]["python_class"])
    cls(split="test", download=True, root=str(folder), size=size)
    return folder / dataset_filename(flag, size)


@dataclass(frozen=True)
class Split:
    """One split in memory: uint8 ``images`` ``(N, C, H, W)`` and ``labels``.

    ``labels`` is int64 ``(N,)`` for single-label tasks and float32 ``(N, L)`` for
    multi-label ones.
    """

    images: Any
    labels: Any

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class Data:
    """A dataset ready for :func:`peprkit.train.finetune`.

    ``source`` is the file it was read from; ``synthetic`` is True for files written
    by :func:`make_synthetic` (every result trained on them is labelled synthetic).
    """

    flag: str
    size: int
    task: str
    class_names: list[str]
    n_channels: int
    train: Split
    val: Split
    test: Split
    source: Path
    synthetic: bool = False
    license: str = "unknown"
    fraction: float = 1.0
    seed: int = 0
    task_note: str = ""

    @property
    def num_classes(self) -> int:
        """Number of classes (of labels, for multi-label tasks)."""
        return len(self.class_names)

    @property
    def multilabel(self) -> bool:
        return self.task.startswith("multi-label")

    @property
    def name(self) -> str:
        """``flag``, with ``" (synthetic)"`` appended for synthetic data."""
        plain = not self.synthetic or "synthetic" in self.flag
        return self.flag if plain else f"{self.flag} (synthetic)"

    def subset(self, fraction: float, seed: int = 0) -> Data:
        """This data with a stratified ``fraction`` of its training split (see
        :func:`stratified_indices`); val and test stay whole.

        Raises:
            ValueError: ``fraction`` outside ``(0, 1]``.
        """
        keep = stratified_indices(self.train.labels.numpy(), fraction, seed)
        train = Split(self.train.images[keep], self.train.labels[keep])
        return replace(self, train=train, fraction=self.fraction * float(fraction), seed=seed)

    def __repr__(self) -> str:
        sizes = "/".join(str(len(s)) for s in (self.train, self.val, self.test))
        return (
            f"Data({self.name!r}, size={self.size}, task={self.task!r}, "
            f"classes={self.num_classes}, channels={self.n_channels}, train/val/test={sizes}, "
            f"source={str(self.source)!r})"
        )


def stratified_indices(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Sorted indices of a stratified random subset: ``max(1, round(fraction * n_c))`` per class.

    Multi-label rows (2-D ``labels``) are grouped by their first positive label
    (rows with none form their own group). Deterministic for a given ``seed``.

    >>> stratified_indices(np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]), 0.5, seed=0).size
    5

    Raises:
        ValueError: ``fraction`` outside ``(0, 1]``.
    """
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(
            f"fraction={fraction!r} must be in (0, 1], e.g. 0.1 for the paper's 10% runs."
        )
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        groups = np.where(labels.any(axis=1), labels.argmax(axis=1), -1)
    else:
        groups = labels.reshape(len(labels))
    if fraction == 1.0:
        return np.arange(len(groups))
    rng = np.random.default_rng(seed)
    keep = []
    for value in np.unique(groups):
        members = np.flatnonzero(groups == value)
        k = max(1, int(round(fraction * members.size)))
        keep.append(rng.permutation(members)[:k])
    return np.sort(np.concatenate(keep))


def _as_nchw(images: np.ndarray) -> np.ndarray:
    if images.ndim == 3:
        return images[:, None]
    if images.ndim == 4 and images.shape[-1] in (1, 3):
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    raise ValueError(f"images of shape {images.shape} are not (N, H, W) or (N, H, W, C)")


def load_npz(
    path: str | os.PathLike, *, flag: str | None = None, fraction: float = 1.0, seed: int = 0,
) -> Data:
    """Read a MedMNIST-layout ``.npz`` (official or from :func:`make_synthetic`) into memory.

    Task and class names come from the file when it stores them (synthetic files),
    else from ``medmnist.INFO[flag]`` (``flag`` defaults to the file name's stem).

    Args:
        path: the ``.npz`` file.
        flag: dataset flag for task and class names, e.g. ``"breastmnist"``.
        fraction: stratified share of the training split kept (val and test stay whole).
        seed: seed of that subset.

    Raises:
        ValueError: bad ``fraction``, an unknown flag for a file without metadata, or a
            file that is not MedMNIST-shaped.
    """
    torch = optional_import("torch", extra="train")
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(
            f"path={str(path)!r} is not a readable .npz ({err}); delete it and download it again."
        ) from err
    missing = [f"{s}_{kind}" for s in _SPLITS for kind in ("images", "labels")
               if f"{s}_{kind}" not in arrays]
    if missing:
        raise ValueError(f"path={str(path)!r} lacks MedMNIST arrays {missing}.")
    stem = path.stem.rsplit("_", 1)[0] if path.stem.rsplit("_", 1)[-1].isdigit() else path.stem
    flag = flag or (str(arrays["flag"]) if "flag" in arrays else stem)
    synthetic = bool(arrays.get("synthetic", False))
    if "task" in arrays:
        task = str(arrays["task"])
        class_names = [str(n) for n in arrays["class_names"]]
        license_ = "synthetic (no licence needed)" if synthetic else "unknown"
    else:
        info = _info()
        if flag not in info:
            raise ValueError(
                f"flag={flag!r} is not a MedMNIST flag, and {path.name} does not store its task; "
                f"pass flag=...{did_you_mean(flag, flags_2d())}"
            )
        task = info[flag]["task"]
        labels_map = info[flag]["label"]
        class_names = [labels_map[str(i)] for i in range(len(labels_map))]
        license_ = info[flag]["license"]
    if task not in SUPPORTED_TASKS:
        raise ValueError(f"task {task!r} of {flag!r} is not supported; "
                         f"supported: {SUPPORTED_TASKS}.")
    multilabel = task.startswith("multi-label")
    splits = {}
    for name in _SPLITS:
        images = _as_nchw(arrays[f"{name}_images"])
        labels = arrays[f"{name}_labels"]
        labels = labels.astype(np.float32) if multilabel else labels.reshape(-1).astype(np.int64)
        splits[name] = Split(torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)),
                             torch.from_numpy(np.ascontiguousarray(labels)))
    note = ("ordinal-regression treated as multi-class classification (cross-entropy, accuracy)"
            if task == "ordinal-regression" else "")
    data = Data(
        flag=flag, size=int(splits["train"].images.shape[-1]), task=task,
        class_names=class_names, n_channels=int(splits["train"].images.shape[1]),
        train=splits["train"], val=splits["val"], test=splits["test"], source=path,
        synthetic=synthetic, license=license_, task_note=note,
    )
    return data if fraction == 1.0 else data.subset(fraction, seed)


def find_medmnist(
    flag: str, *, size: int = 28, root: str | os.PathLike | None = None,
) -> tuple[Path | None, list[tuple[str, Path]]]:
    """Look for ``flag``'s file offline: ``root``, bundle, ``PEPRKIT_DATA_DIR``, repo ``data/``,
    peprkit's cache, medmnist's default root.

    Returns:
        ``(path or None, searched folders)``.
    """
    _check_flag_size(flag, size)
    extra = [("medmnist default root", medmnist_default_root())]
    return find_file(dataset_filename(flag, size), "datasets", explicit=root, extra=extra)


def load_medmnist(
    flag: str, *, size: int = 28, root: str | os.PathLike | None = None, download: bool = True,
    fraction: float = 1.0, seed: int = 0,
) -> Data:
    """Load a 2D MedMNIST dataset into memory, downloading it only when not found locally.

    Files found on disk are used as they are (no MD5 check); a download goes through
    medmnist's own downloader, which checks the MD5 in ``medmnist.INFO``.

    Args:
        flag: e.g. ``"breastmnist"`` (see :func:`flags_2d`).
        size: 28, 64, 128 or 224 px.
        root: a folder searched first (and downloaded into, if given).
        download: allow a download when no local file is found.
        fraction: stratified share of the training split, e.g. 0.1 (deterministic by ``seed``).
        seed: seed of the subset.

    Returns:
        A :class:`Data`.

    Raises:
        ValueError: unknown flag, size or bad fraction (with close matches).
        FileNotFoundError: no file found and no download possible; the message names the
            file, its MD5, the folders searched and how to fill one (a workshop bundle).

    Example:
        >>> load_medmnist("breastmnst")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: flag='breastmnst' is not a 2D MedMNIST dataset. Did you mean: breastmnist?
    """
    path, searched = find_medmnist(flag, size=size, root=root)
    if path is None and download:
        try:
            path = download_medmnist(flag, size=size, root=root)
        except Exception as err:  # medmnist wraps every failure in a bare RuntimeError
            failure = f"Download failed ({str(err).strip().splitlines()[0]})."
        else:
            failure = ""
    else:
        failure = "" if path is not None else "Download not allowed (download=False)."
    if path is None:
        name = dataset_filename(flag, size)
        url = _info()[flag]["url" if size == 28 else f"url_{size}"]
        raise FileNotFoundError(
            f"MedMNIST file {name} (MD5 {expected_md5(flag, size)}) not found. {failure}\n"
            f"Searched:\n{describe_searched(searched)}\n"
            f"Fix: download it from {url} into one of these folders (e.g. set PEPRKIT_DATA_DIR), "
            "or use a workshop bundle that provides it (`peprkit bundle use <folder>`)."
        )
    return load_npz(path, flag=flag, fraction=fraction, seed=seed)


#: The banner printed when :func:`load_or_synthetic` falls back to made-up images.
_BANNER = "!" * 78


def load_or_synthetic(
    flag: str, *, size: int = 28, fraction: float = 1.0, seed: int = 0,
    root: str | os.PathLike | None = None, download: bool = True,
    folder: str | os.PathLike | None = None, n_train: int = 600,
) -> Data:
    """The real MedMNIST ``flag`` when it can be had, else a loudly labelled synthetic stand-in.

    First :func:`load_medmnist` (local files, then a download when ``download``). When
    the file cannot be found or fetched, a banner says so and why, and a synthetic
    stand-in from :func:`make_synthetic` is used instead: same image size, and the
    same number of classes and channels as ``flag`` (a binary stand-in for multi-label
    flags). Its dataset name is ``"<flag>-synthetic"``, so its runs never mix with real
    ones in a results table, and ``Data.synthetic`` is True, so every table and plot
    made from it says "synthetic".

    Args:
        flag: a 2D MedMNIST flag, e.g. ``"breastmnist"``.
        size: 28, 64, 128 or 224 px.
        fraction: stratified share of the training split (val and test stay whole).
        seed: seed of that subset (and of the stand-in's images).
        root: a folder searched first for the real file (as in :func:`load_medmnist`).
        download: allow a download of the real file.
        folder: where the stand-in's ``.npz`` is written (default peprkit's cache);
            an existing one with the same settings is reused.
        n_train: training images of the stand-in (val and test get a quarter each).

    Returns:
        A :class:`Data`; check ``data.synthetic``.

    Raises:
        ValueError: unknown flag or size, bad fraction or ``n_train`` (never replaced by
            synthetic data: only a missing file is).

    Example:
        >>> import contextlib, io, tempfile
        >>> with contextlib.redirect_stdout(io.StringIO()) as said:
        ...     data = load_or_synthetic("breastmnist", download=False, folder=tempfile.mkdtemp(),
        ...                              n_train=40)
        >>> data.synthetic == ("SYNTHETIC DATA" in said.getvalue()), data.num_classes
        (True, 2)
    """
    _check_flag_size(flag, size)
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(
            f"fraction={fraction!r} must be in (0, 1], e.g. 0.1 for the paper's 10% runs."
        )
    if int(n_train) < 2:
        raise ValueError(f"n_train={n_train!r} is too small for the stand-in; use at least 2.")
    try:
        data = load_medmnist(flag, size=size, root=root, download=download,
                             fraction=fraction, seed=seed)
    except FileNotFoundError as err:
        why = str(err).splitlines()[0]
    else:
        print(f"Data: {data.name}, real MedMNIST from {data.source} ({len(data.train)}/"
              f"{len(data.val)}/{len(data.test)} train/val/test images)")
        return data
    info = _info()[flag]
    multilabel = info["task"].startswith("multi-label")
    n_classes = 2 if multilabel else len(info["label"])
    n_channels = int(info["n_channels"])
    if folder is None:
        from peprkit._paths import cache_dir

        folder = cache_dir() / "synthetic"
    name = f"{flag}-synthetic"
    path = Path(folder).expanduser() / f"{name}_{size}px_{int(n_train)}_seed{seed}.npz"
    if not path.is_file():
        make_synthetic(path, n_classes=n_classes, n_channels=n_channels, size=size,
                       n_train=int(n_train), flag=name, seed=seed)
    shape = "binary (the real task is multi-label)" if multilabel else f"{n_classes}-class"
    print(f"{_BANNER}\n!!! SYNTHETIC DATA: {flag} is not available here.\n!!! Why: {why}\n"
          f"!!! Using made-up stripe/blob images ({shape}, {n_channels} channel(s), {size} px): "
          "NOT medical results.\n!!! Every table and plot made from them says 'synthetic'. "
          f"For real data, set PEPRKIT_DATA_DIR\n!!! to a folder holding "
          f"{dataset_filename(flag, size)}, or use a workshop bundle.\n{_BANNER}")
    return load_npz(path, fraction=fraction, seed=seed)


def _pattern(label: int, n_classes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A class-dependent image in [0, 1]: stripes whose angle encodes the class, plus a blob."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = np.pi * label / n_classes + rng.normal(0, 0.08)
    freq = 3.0 + rng.uniform(-0.3, 0.3)
    phase = rng.uniform(0, 2 * np.pi)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle))
                                 + phase)
    theta = 2 * np.pi * label / n_classes
    cy, cx = 0.5 + 0.25 * np.sin(theta), 0.5 + 0.25 * np.cos(theta)
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.02)
    return 0.5 * stripes + 0.5 * blob


def make_synthetic(
    path: str | os.PathLike, *, n_classes: int = 2, n_channels: int = 1, size: int = 28,
    n_train: int = 64, n_val: int | None = None, n_test: int | None = None,
    noise: float = 0.15, flag: str = "synthetic", seed: int = 0,
) -> Path:
    """Write a MedMNIST-layout ``.npz`` with learnable classes (for tests and offline demos).

    Class ``k`` shows stripes at angle ``pi*k/n_classes`` and a bright blob on a circle at
    angle ``2*pi*k/n_classes``, plus Gaussian noise (std ``noise``). The file stores
    ``synthetic=True``, its ``task`` and ``class_names``, so every result trained on it
    is labelled synthetic.

    Args:
        path: the ``.npz`` to write (atomically).
        n_classes: at least 2 (``binary-class`` for 2, else ``multi-class``).
        n_channels: 1 or 3.
        size: image side in px (at least 8).
        n_train: training images; ``n_val``/``n_test`` default to ``n_train // 4`` (at least 2).
        noise: noise std in [0, 1] units.
        flag: name stored in the file (the dataset name of results).
        seed: random seed.

    Returns:
        ``path``.

    >>> import tempfile, os
    >>> p = make_synthetic(os.path.join(tempfile.mkdtemp(), "s.npz"), n_train=8, size=8)
    >>> sorted(np.load(p).files)[:3]
    ['class_names', 'flag', 'synthetic']
    """
    for arg, value, low in (("n_classes", n_classes, 2), ("size", size, 8),
                            ("n_train", n_train, 2)):
        if int(value) < low:
            raise ValueError(f"{arg}={value!r} is too small; use at least {low}.")
    if n_channels not in (1, 3):
        raise ValueError(f"n_channels={n_channels!r} must be 1 (grey) or 3 (RGB).")
    rng = np.random.default_rng(seed)
    counts = {"train": n_train, "val": n_val or max(2, n_train // 4),
              "test": n_test or max(2, n_train // 4)}
    tint = rng.uniform(0.6, 1.0, size=(n_classes, n_channels))
    arrays: dict[str, np.ndarray] = {}
    for split, n in counts.items():
        labels = np.arange(n) % n_classes
        rng.shuffle(labels)
        images = np.empty((n, size, size, n_channels), dtype=np.uint8)
        for i, label in enumerate(labels):
            base = _pattern(int(label), n_classes, size, rng)[..., None] * tint[label]
            noisy = base + rng.normal(0, noise, size=base.shape)
            images[i] = np.clip(noisy * 255, 0, 255).astype(np.uint8)
        arrays[f"{split}_images"] = images[..., 0] if n_channels == 1 else images
        arrays[f"{split}_labels"] = labels.reshape(-1, 1).astype(np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, **arrays, synthetic=np.array(True), flag=np.array(flag),
        task=np.array("binary-class" if n_classes == 2 else "multi-class"),
        class_names=np.array([f"pattern {k}" for k in range(n_classes)]),
    )
    return atomic_write(path, buffer.getvalue())
