"""Learner answers as plain data: what crosses from a sandboxed notebook to the scorer.

Only JSON leaves the sandbox (never pickle): numbers, strings, lists and dicts as they
are; numpy arrays and pandas Series as lists; DataFrames as CSV text; functions as their
source (with the imports and helpers they use); other objects (a training run, a meter
reading) as their public plain-data attributes. :func:`decode` turns it back into values
the checks accept; functions come back as :class:`FunctionSource`, which the scorer runs
only in a sandbox.

>>> import pandas as pd
>>> data = encode({"a": [1, 2.5], "t": pd.DataFrame({"x": [1, 2]})})
>>> back = decode(json.loads(json.dumps(data)))
>>> back["a"], back["t"]["x"].tolist()
([1, 2.5], [1, 2])
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
import sys
import textwrap
import types
from dataclasses import dataclass, field
from typing import Any

#: Largest export the scorer reads for one question (bytes), checked before parsing.
MAX_EXPORT_BYTES = 20_000_000
#: Largest table :func:`decode` rebuilds: columns, and cells (rows x columns). A wider or
#: larger one (a 5 MB CSV of 500,000 columns would take a gigabyte) stays unsupported.
MAX_TABLE_COLUMNS = 5_000
MAX_TABLE_CELLS = 2_000_000
#: Largest item of a decoded array (bytes): ``dtype="<U100000000"`` would take 400 MB each.
MAX_ITEM_BYTES = 4096
_MAX_DEPTH = 6
_MAX_DECODE_DEPTH = 64


@dataclass(frozen=True)
class FunctionSource:
    """A learner's function as source: its definition plus what it needs to run.

    ``modules`` maps names to the modules they stood for (``{"np": "numpy"}``),
    ``helpers`` holds the source of other notebook functions it calls, ``values`` the
    plain-data globals it reads.
    """

    name: str
    source: str
    modules: dict[str, str] = field(default_factory=dict)
    helpers: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


def _import_line(value: Any, alias: str) -> str | None:
    """``from <module> import <name> as <alias>`` when ``value`` is a function of an
    installed module, found there under its own name (``from peprkit import pepr as
    kit_pepr``); None for the notebook's own functions, and a module of the notebook's
    folder (which the worker cannot import).

    >>> from json import dumps
    >>> _import_line(dumps, "to_json")
    'from json import dumps as to_json'
    """
    module_name, name = getattr(value, "__module__", None), getattr(value, "__name__", None)
    if not (callable(value) and isinstance(module_name, str) and isinstance(name, str)):
        return None
    if module_name in ("__main__", "__learner__", "builtins") or module_name.startswith("<"):
        return None
    module = sys.modules.get(module_name)
    if module is None or getattr(module, name, None) is not value:
        return None
    where = getattr(module, "__file__", None) or ""
    here = os.path.join(os.path.realpath(os.getcwd()), "")
    if where and os.path.realpath(where).startswith(here):
        return None
    if not (module_name.replace(".", "").replace("_", "").isalnum()
            and name.isidentifier() and alias.isidentifier()):
        return None
    return f"from {module_name} import {name} as {alias}"


def _function_source(func: types.FunctionType, depth: int) -> dict:
    try:
        source = textwrap.dedent(inspect.getsource(func))  # a nested def runs on its own
    except (OSError, TypeError):
        return {"__unsupported__": f"function {func.__name__!r} without source"}
    names: set[str] = set()
    stack = [func.__code__]
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    scope = dict(func.__globals__)
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=False):
        try:
            scope[name] = cell.cell_contents
        except ValueError:  # a free variable not bound yet
            continue
    names.update(func.__code__.co_freevars)
    modules, helpers, values = {}, {}, {}
    for name in sorted(names):
        if name not in scope or name == func.__name__:
            continue
        value = scope[name]
        if isinstance(value, types.ModuleType):
            modules[name] = value.__name__
        elif (line := _import_line(value, name)) is not None:
            helpers[name] = line  # an imported function (the kit's): imported, not copied
        elif isinstance(value, types.FunctionType) and depth < 2:
            helper = _function_source(value, depth + 1)
            if "__function__" in helper:
                helpers[name] = helper["__function__"]["source"]
                modules.update(helper["__function__"]["modules"])
        elif isinstance(value, (int, float, str, bool, list, tuple, dict)):
            values[name] = encode(value, depth + 1)
        elif callable(value) and getattr(value, "__module__", "") and depth < 2:
            module = getattr(value, "__module__", "")
            if module and module != "__main__" and not module.startswith("<"):
                helpers[name] = f"from {module} import {getattr(value, '__name__', name)} as {name}"
    return {"__function__": {"name": func.__name__, "source": source, "modules": modules,
                             "helpers": helpers, "values": values}}


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready plain data (see the module docstring)."""
    import numpy as np

    if depth > _MAX_DEPTH:
        return {"__unsupported__": "nested too deep"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.generic):
        return encode(value.item(), depth)
    if isinstance(value, (list, tuple)):
        items = [encode(v, depth + 1) for v in value]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, (set, frozenset)):
        return {"__tuple__": [encode(v, depth + 1) for v in sorted(value, key=repr)]}
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, depth + 1), encode(v, depth + 1)]
                             for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUS":
            return {"__unsupported__": f"array of {value.dtype}"}
        return {"__ndarray__": encode(value.tolist(), depth + 1), "dtype": value.dtype.str}
    module = type(value).__module__ or ""
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return {"__dataframe__": value.to_csv()}
        if isinstance(value, pd.Series):
            return {"__series__": value.to_frame(name=value.name if value.name is not None
                                                 else "__value__").to_csv()}
        if isinstance(value, pd.Index):
            return encode(list(value), depth)
    if isinstance(value, types.FunctionType):
        return _function_source(value, depth)
    if isinstance(value, types.ModuleType):
        return {"__unsupported__": "module"}
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict) and depth < 3:
        out = {}
        for name, item in attrs.items():
            if name.startswith("_") or callable(item):
                continue
            encoded = encode(item, depth + 1)
            if not (isinstance(encoded, dict) and "__unsupported__" in encoded):
                out[name] = encoded
        for name in dir(type(value)):  # properties such as Reading.energy_kwh
            if not name.startswith("_") and isinstance(getattr(type(value), name, None),
                                                       property) and name not in out:
                try:
                    encoded = encode(getattr(value, name), depth + 1)
                except Exception:  # a property that fails is simply left out
                    continue
                if not (isinstance(encoded, dict) and "__unsupported__" in encoded):
                    out[name] = encoded
        return {"__object__": out, "type": type(value).__name__}
    return {"__unsupported__": type(value).__name__}


class Unsupported:
    """Stands for an answer that could not be exported as plain data."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"<not gradable: {self.what}>"


def _table(text: Any, index_col: int | None = 0):
    """A CSV table from a sandbox, or :class:`Unsupported` when it is too wide or large to
    rebuild safely (checked on the text, before parsing)."""
    import pandas as pd

    text = str(text)
    header = text[:text.find("\n")] if "\n" in text else text
    columns = header.count(",") + 1
    if columns > MAX_TABLE_COLUMNS:
        return Unsupported(f"table of {columns} columns (at most {MAX_TABLE_COLUMNS})")
    cells = columns * (text.count("\n") + 1)
    if cells > MAX_TABLE_CELLS:
        return Unsupported(f"table of {cells} cells (at most {MAX_TABLE_CELLS})")
    return pd.read_csv(io.StringIO(text), index_col=index_col)


def decode(data: Any, _depth: int = 0) -> Any:
    """The inverse of :func:`encode` (functions come back as :class:`FunctionSource`).

    Data from a sandbox is untrusted: tables wider or larger than
    :data:`MAX_TABLE_COLUMNS` / :data:`MAX_TABLE_CELLS`, arrays of items over
    :data:`MAX_ITEM_BYTES` or data nested deeper than JSON from :func:`encode` come back as
    :class:`Unsupported` instead of being built.
    """
    import numpy as np

    if _depth > _MAX_DECODE_DEPTH:
        return Unsupported("nested too deep")
    depth = _depth + 1
    if isinstance(data, list):
        return [decode(v, depth) for v in data]
    if not isinstance(data, dict):
        return data
    if "__ellipsis__" in data:
        return Ellipsis
    if "__float__" in data:
        return float(data["__float__"])
    if "__tuple__" in data:
        return tuple(decode(v, depth) for v in data["__tuple__"])
    if "__dict__" in data:
        out = {}
        for k, v in data["__dict__"]:
            key = decode(k, depth)
            out[key if not isinstance(key, list) else tuple(key)] = decode(v, depth)
        return out
    if "__ndarray__" in data:
        dtype = np.dtype(str(data["dtype"]))
        if dtype.kind not in "biufUS" or dtype.itemsize > MAX_ITEM_BYTES:
            return Unsupported(f"array of {dtype}")
        return np.asarray(decode(data["__ndarray__"], depth), dtype=dtype)
    if "__dataframe__" in data:
        return _table(data["__dataframe__"])
    if "__series__" in data:
        frame = _table(data["__series__"])
        if isinstance(frame, Unsupported):
            return frame
        series = frame.iloc[:, 0]
        return series.rename(None) if series.name == "__value__" else series
    if "__function__" in data:
        f = data["__function__"]
        return FunctionSource(str(f["name"]), str(f["source"]),
                              {str(k): str(v) for k, v in dict(f.get("modules", {})).items()},
                              {str(k): str(v) for k, v in dict(f.get("helpers", {})).items()},
                              dict(f.get("values", {})))
    if "__object__" in data:
        return types.SimpleNamespace(**{str(k): decode(v, depth)
                                        for k, v in data["__object__"].items()})
    if "__unsupported__" in data:
        return Unsupported(str(data["__unsupported__"])[:200])
    return {str(k): decode(v, depth) for k, v in data.items()}


def dumps(values: dict[str, Any]) -> str:
    """JSON text of ``{name: encode(value)}``."""
    return json.dumps({name: encode(v) for name, v in values.items()}, allow_nan=False)
