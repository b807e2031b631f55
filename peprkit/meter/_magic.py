"""``%%meter``: meter one notebook cell, loaded with ``%load_ext peprkit``.

::

    %%meter --csv runs.csv --country DK
    run = finetune("resnet18", data, epochs=1)

The cell runs as usual (its output and any traceback are shown); then the same summary as
``peprkit meter`` is printed, and with ``--csv`` one row is appended to the file.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from peprkit.meter.command import add_options, meter_call, report


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        from IPython.core.error import UsageError

        raise UsageError(f"%%meter: {message} (options: --csv FILE --country CC)")


def _what(cell: str) -> str:
    first = next((line.strip() for line in cell.splitlines() if line.strip()), "")
    return "%%meter cell: " + (first if len(first) <= 60 else first[:57] + "...")


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%%meter`` cell magic on ``ipython`` (an InteractiveShell)."""
    parser = add_options(_Parser(prog="%%meter", add_help=False))

    def meter(line: str, cell: str) -> None:
        args = parser.parse_args(line.split())
        run = meter_call(lambda: ipython.run_cell(cell).success, what=_what(cell),
                         country=args.country)
        report(run, args.csv, file=sys.stdout)

    meter.__doc__ = ("Meter this cell's energy, CO2, time and memory: "
                     "%%meter [--csv FILE] [--country CC]")
    ipython.register_magic_function(meter, magic_kind="cell", magic_name="meter")
