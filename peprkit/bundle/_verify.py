"""Check a whole bundle against its manifest: what is missing, corrupt, extra or unfinished."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from peprkit._manifest import MANIFEST, BundleError, digest, read_manifest
from peprkit._util import human_bytes, progress_bar
from peprkit.bundle._layout import plan
from peprkit.bundle.readme import README


@dataclass
class VerifyReport:
    """What :func:`verify` found; ``ok`` is True only when nothing is wrong."""

    root: Path
    checked: int = 0
    total_bytes: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.extra or self.unfinished)

    def __str__(self) -> str:
        lines = [f"Bundle {self.root}: {self.checked} files checked, "
                 f"{human_bytes(self.total_bytes)}."]
        lines += [f"  MISSING   {rel}" for rel in self.missing]
        lines += [f"  CORRUPT   {rel}: {why}" for rel, why in self.corrupt]
        lines += [f"  EXTRA     {rel} (not in {MANIFEST})" for rel in self.extra]
        lines += [f"  NOT YET   {rel} (selected but never fetched)" for rel in self.unfinished]
        if self.ok:
            lines.append("OK: every file matches the manifest.")
        else:
            n = len(self.missing) + len(self.corrupt) + len(self.extra) + len(self.unfinished)
            lines.append(
                f"{n} problem(s). Fix: on a connected machine run `peprkit bundle create "
                f"{self.root}` (it resumes, re-fetches missing and corrupt files), or copy "
                "the bundle again; delete EXTRA files (or *.part leftovers)."
            )
        return "\n".join(lines)


def verify(path: str | os.PathLike, *, progress: bool = True) -> VerifyReport:
    """Recompute every checksum of the bundle at ``path`` and list what is wrong.

    Reports files in the manifest that are missing or corrupt (wrong size or SHA-256),
    files not in the manifest (extra), and selected files never fetched.

    Raises:
        ValueError: ``path`` is not a folder.

    Example:
        >>> verify("no/such/folder")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: path='no/such/folder' is not a folder. ...
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(f"path={str(path)!r} is not a folder. Pass the bundle folder.")
    report = VerifyReport(root)
    try:
        manifest = read_manifest(root)
    except BundleError as err:
        report.corrupt.append((MANIFEST, str(err)))
        return report
    files = manifest["files"]
    total = sum(e["size"] for e in files.values())
    with progress_bar(total=total, unit="B", unit_scale=True, desc="verify",
                      disable=not progress) as bar:
        for rel, entry in sorted(files.items()):
            file = root / rel
            if not file.is_file():
                report.missing.append(rel)
                continue
            size = file.stat().st_size
            if size != entry["size"]:
                report.corrupt.append((rel, f"{size} bytes, expected {entry['size']} (truncated "
                                            "or replaced)"))
                bar.update(entry["size"])
            elif digest(file, bar=bar) != entry["sha256"]:
                report.corrupt.append((rel, "SHA-256 differs (contents changed)"))
            else:
                report.checked += 1
                report.total_bytes += size
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if rel not in files and rel not in (MANIFEST, README):
            report.extra.append(rel)
    request = manifest.get("request", {})
    report.unfinished = [item.path for item in plan(request) if item.path not in files]
    if request.get("wheels") and not manifest.get("wheelhouse"):
        report.unfinished.append("wheels/")
    return report
