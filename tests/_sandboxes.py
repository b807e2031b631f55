"""The sandbox a test grades under: bubblewrap where it runs here, else the fallback,
asked for explicitly (``grade(sandbox="auto")`` refuses without bubblewrap)."""

from __future__ import annotations

from peprkit.course import _sandbox


def grading_sandbox() -> str:
    """``"bwrap"`` when bubblewrap runs the kit here, else ``"fallback"``."""
    return "bwrap" if _sandbox.bwrap_problem() is None else "fallback"
