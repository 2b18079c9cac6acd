"""A route's Python hook (``transform.hook: "module:function"``): the one place where records
are a pandas DataFrame, and pandas is imported only when a route has a hook.

The hook gets the records as a DataFrame of Arrow-backed columns, indexed by record number,
and the header (a header column as a Series with the same index); it returns a DataFrame.
Rows it keeps keep their index, so record numbers survive a hook that drops or reorders rows.
Anything the hook raises, or a result that is not a DataFrame of columns Arrow can hold,
becomes a ``HookError`` naming the hook and the line of the hook's module where it failed.

pyarrow itself imports pandas the first time it converts Python values (to learn whether
they are pandas objects): 0.4 s and 50 MB that a process whose routes have no hook does not
need. ``_keep_pandas_out`` (run when this module is imported, before the engine converts
anything) lets pyarrow look for pandas once while pandas cannot be imported; pyarrow then
remembers that there is none. ``run_hook`` imports pandas, and pyarrow looks again when it
first converts the hook's DataFrame.
"""

from __future__ import annotations

import importlib.abc
import inspect
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tradelane.errors import HookError
from tradelane.spec import import_hook


def run_hook(hook: str, base_dir: Path | None, records: pa.Table, numbers: np.ndarray,
             header: Mapping[str, Any]) -> tuple[pa.Table, np.ndarray]:
    """The hook's records and their record numbers."""
    import pandas as pd

    func = import_hook(hook, base_dir)
    index = pd.Index(numbers, dtype="int64")
    frame = records.to_pandas(types_mapper=pd.ArrowDtype)
    frame.index = index
    head = {k: pd.Series(pd.arrays.ArrowExtensionArray(v), index=index, name=k)
            if isinstance(v, pa.Array) else v for k, v in header.items()}
    try:
        result = func(frame, head)
    except Exception as exc:  # the route's own code: its failure is the file's reason
        raise HookError(hook, exc, where=_where(exc, func)) from exc
    if not isinstance(result, pd.DataFrame):
        raise HookError(hook, TypeError(
            f"it returned {type(result).__name__}, not a pandas DataFrame"))
    return _table(hook, result), _numbers(hook, result, numbers)


def _table(hook: str, frame: Any) -> pa.Table:
    frame = _plain_nulls(frame)
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        column = _bad_column(frame)
        what = f"column {column!r} of its result" if column else "its result"
        raise HookError(hook, TypeError(
            f"{what} cannot be an Arrow column ({str(exc).splitlines()[0]}); give each"
            " column values of one type")) from None


def _plain_nulls(frame: Any) -> Any:
    """pandas' missing-value markers (NA, NaT) in columns of Python objects become None:
    pyarrow knows them only if it saw pandas before it converted anything."""
    objects = [name for name, dtype in frame.dtypes.items() if dtype.kind == "O"]
    if not objects:
        return frame
    frame = frame.copy(deep=False)
    for name in objects:
        column = frame[name]
        frame[name] = column.where(column.notna(), None)
    return frame


def _bad_column(frame: Any) -> str | None:
    for name in frame.columns:
        try:
            pa.array(frame[name], from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            return str(name)
    return None


def _numbers(hook: str, frame: Any, numbers: np.ndarray) -> np.ndarray:
    """Record numbers of the hook's rows: its index, when that still holds record numbers;
    else the records' own, when it kept their count (a hook that reset the index)."""
    index = frame.index
    if index.dtype.kind in "iu" and np.isin(index.to_numpy(), numbers).all():
        return index.to_numpy(dtype=np.int64)
    if len(frame) == len(numbers):
        return numbers
    raise HookError(hook, ValueError(
        f"it returned {len(frame)} rows for {len(numbers)} records and an index that is not"
        " their record numbers; keep the index of the records it is given"))


def _where(exc: BaseException, func: Any) -> str:
    """``hooks.py:12 in enrich``: the innermost frame in the hook's own module."""
    try:
        module_file = inspect.getsourcefile(func) or func.__code__.co_filename
    except (TypeError, AttributeError):
        return ""
    found = ""
    for frame, line in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == module_file:
            found = f"{Path(module_file).name}:{line} in {frame.f_code.co_name}"
    return found


class _NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is imported only for a route's hook")


def _keep_pandas_out() -> None:
    if "pandas" in sys.modules:  # already there: nothing to save
        return
    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        pa.array([0])  # pyarrow's pandas check, in Python and in its type inference
    finally:
        sys.meta_path.remove(blocker)


_keep_pandas_out()

__all__ = ["run_hook"]
