"""What a bundle says about itself: its README.md, and the licence and citation of its data."""

from __future__ import annotations

from peprkit._manifest import MANIFEST
from peprkit._util import human_bytes, optional_import

#: The bundle's human-readable description, beside ``manifest.json``.
README = "README.md"
#: How to cite MedMNIST (every dataset of a bundle comes from it).
MEDMNIST_CITATION = (
    "MedMNIST v2: J. Yang, R. Shi, D. Wei, Z. Liu, L. Zhao, B. Ke, H. Pfister, B. Ni, "
    "\"MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image "
    "classification\", Scientific Data 10, 41 (2023), https://medmnist.com/"
)
#: The original data each MedMNIST set is derived from (cite it with MedMNIST).
SOURCES = {
    "pathmnist": "Kather et al., PLOS Medicine 16(1), e1002730 (2019), NCT-CRC-HE-100K",
    "chestmnist": "Wang et al., ChestX-ray8, CVPR 2017 (NIH ChestX-ray14)",
    "dermamnist": "Tschandl et al., The HAM10000 dataset, Scientific Data 5, 180161 (2018); "
                  "Codella et al., ISIC 2018 challenge, arXiv:1902.03368",
    "octmnist": "Kermany et al., Cell 172(5), 1122-1131 (2018)",
    "pneumoniamnist": "Kermany et al., Cell 172(5), 1122-1131 (2018)",
    "retinamnist": "Liu et al., DeepDRiD, Patterns 3(6), 100512 (2022)",
    "breastmnist": "Al-Dhabyani et al., Dataset of breast ultrasound images, "
                   "Data in Brief 28, 104863 (2020)",
    "bloodmnist": "Acevedo et al., Data in Brief 30, 105474 (2020)",
    "tissuemnist": "Ljosa et al., Nature Methods 9(7), 637 (2012), BBBC051",
    "organamnist": "Bilic et al., LiTS, Medical Image Analysis 84, 102680 (2023); "
                   "Xu et al., IEEE TMI 38(8), 1885-1898 (2019)",
}
SOURCES["organcmnist"] = SOURCES["organsmnist"] = SOURCES["organamnist"]
#: How to cite the PePR paper, whose published results a bundle may carry.
PAPER_CITATION = (
    "R. Selvan, B. Pepin, C. Igel, G. Samuel, E. B. Dam, \"PePR: Performance Per Resource "
    "Unit as a Metric to Promote Small-Scale Deep Learning\", NLDL 2025; "
    "https://github.com/saintslab/PePR"
)


def medmnist_info() -> dict:
    """medmnist's table of datasets (``medmnist.INFO``: licence, URLs, MD5s...)."""
    return optional_import("medmnist.info", extra="train", package="medmnist").INFO


def dataset_meta(flag: str) -> dict:
    """Licence, attribution and medmnist class of the MedMNIST dataset ``flag``.

    >>> dataset_meta("breastmnist")["licence"]
    'CC BY 4.0'
    """
    info = medmnist_info()[flag]
    return {
        "licence": info.get("license", "unknown: see https://medmnist.com/"),
        "attribution": f"{MEDMNIST_CITATION}. Source data: "
                       f"{SOURCES.get(flag, 'see medmnist.INFO')}.",
        "medmnist_class": info.get("python_class", ""),
    }


def bundle_readme(manifest: dict) -> str:
    """The bundle's README.md: how to use it, what is in it, licences and attributions."""
    files = manifest["files"]
    lines = [
        "# peprkit workshop bundle", "",
        f"Made with peprkit {manifest['versions']['peprkit']} on {manifest.get('updated', '?')}: "
        f"{len(files)} files, {human_bytes(manifest.get('total_bytes', 0))}. "
        f"`{MANIFEST}` lists the SHA-256 and size of every file.", "",
        "## Use it offline", "",
        "    peprkit bundle use /path/to/this/folder      # remembered for this user",
        "    peprkit bundle verify /path/to/this/folder   # check every file", "",
        "or in a notebook's first cell:", "",
        "    import peprkit.bundle",
        "    peprkit.bundle.use(\"/path/to/this/folder\")", "",
        "or set the environment variable `PEPRKIT_BUNDLE=/path/to/this/folder`.", "",
    ]
    if manifest.get("wheelhouse"):
        wh = manifest["wheelhouse"]
        lines += [
            "## Install without internet", "",
            f"CPU wheels for {', '.join(wh['platforms'])} and Python {', '.join(wh['pythons'])}."
            " From this folder, in a fresh virtual environment:", "",
            f"    {wh['install']}", "",
        ]
    if manifest["datasets"]:
        lines += _dataset_lines(manifest)
    models = [e["model"] for e in files.values() if e["kind"] == "weights"]
    if models:
        lines += ["## Pretrained weights", "",
                  f"ImageNet weights from timm {manifest['versions'].get('timm')} (Hugging Face "
                  f"hub): {', '.join(models)}. Each model's licence is on its model card at "
                  "https://huggingface.co/timm.", ""]
    results = [rel for rel, e in files.items() if e["kind"] == "results"]
    if results:
        lines += ["## Paper results", "", f"`{results[0]}`: {PAPER_CITATION}.", ""]
    return "\n".join(lines)


def _dataset_lines(manifest: dict) -> list[str]:
    files = manifest["files"]
    lines = ["## Datasets (MedMNIST)", ""]
    for flag, meta in manifest["datasets"].items():
        present = sorted((e["image_size"], e["official_file"]) for e in files.values()
                         if e.get("dataset") == flag)
        sizes = ", ".join(f"{s} px" + ("" if official else ": a copy that differs from the "
                                       "official file") for s, official in present)
        lines += [f"- **{flag}** ({sizes or 'not fetched yet'}), licence "
                  f"**{meta['licence']}**. {meta['attribution']}"]
    if any("NC" in m["licence"] for m in manifest["datasets"].values()):
        lines += ["", "Datasets under a CC BY-NC licence may be used for non-commercial "
                      "purposes only."]
    return [*lines, ""]
