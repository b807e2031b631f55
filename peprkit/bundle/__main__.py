"""``python -m peprkit.bundle PLATFORM PYTHON PIP-ARGS...``: pip with another platform's
markers (the wheelhouse commands of :func:`peprkit.bundle.wheel_commands` run this)."""

from __future__ import annotations

import sys

from peprkit.bundle.pip_target import run_pip

if __name__ == "__main__":
    sys.exit(run_pip(sys.argv[1:]))
