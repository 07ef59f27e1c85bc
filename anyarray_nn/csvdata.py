"""Data sets from CSV files: a header row, then one sample per row.

:func:`read_csv` reads a file as text (the delimiter sniffed: ``,``, ``;``, tab or ``|``), and
:func:`load_csv` turns it into a data set: the feature matrix, the target (class indices with their names,
or values), and what was set aside (ignored columns, an ID column, rows with missing cells). Every
problem is a :class:`CSVError` (a ``ValueError``) that names the file, the line and the column.

A cell is *missing* when it is empty or one of the usual markers (``NA``, ``N/A``, ``NaN``, ``null``,
``None``, ``?``; any case). Missing cells are refused with their line and column, or their rows dropped
(``drop_missing=True``, ``--drop-missing`` on the command line). In a file separated by ``;``, tabs or
``|``, numbers may use a decimal comma (``3,14``), as spreadsheets write them in many countries.

::

    data = load_csv("weather.csv", target="rain", ignore=["station"], id_column="date", drop_missing=True)
    data.X, data.y, data.feature_names, data.class_names, data.ids, data.dropped_lines
"""

from __future__ import annotations

import csv
import math
import os
import re

import numpy as np

#: Cells read as missing values (compared without case).
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
#: The delimiters recognised by :func:`sniff_delimiter`, the comma first.
DELIMITERS = (",", ";", "\t", "|")
#: Numeric targets with at most this many distinct integer values are taken as class labels.
MAX_CLASSES_AUTO = 20
# How many lines the delimiter is sniffed from.
_SNIFF_LINES = 50
_DECIMAL_COMMA = re.compile(r"[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?")


class CSVError(ValueError):
    """A CSV file that cannot be read as a data set; the message names the file, line and column."""


class CSVTable:
    """The text of a CSV file: its header, its rows of stripped cells and the line each row starts on.

    Attributes
    ----------
    path : str
    header : list of str
    rows : list of list of str
        Blank lines are left out.
    lines : list of int
        The line of the file each row is on (the header is line 1), for messages.
    delimiter : str
    """

    def __init__(self, path, header, rows, lines, delimiter):
        self.path, self.header, self.rows, self.lines, self.delimiter = path, header, rows, lines, delimiter

    @property
    def decimal_comma(self):
        """Whether numbers may be written with a decimal comma (the delimiter is not a comma)."""
        return self.delimiter != ","

    def index(self, name, role=None):
        """The position of column ``name``; a CSVError listing the columns there are when it is absent.

        ``role`` says what the column was asked for ("the target", "an ignored column"), for the message.
        """
        if name not in self.header:
            asked = f" (asked for as {role})" if role else ""
            raise CSVError(
                f"Column {name!r} is not in {self.path!r}{asked}; its columns are: {', '.join(self.header)}."
            )
        return self.header.index(name)


def sniff_delimiter(lines):
    """The delimiter of a CSV text from its first lines: the one of :data:`DELIMITERS` that splits every
    line into the same number of fields, the most fields winning; a comma when none does.

    Parameters
    ----------
    lines : list of str

    Returns
    -------
    str
    """
    lines = [line for line in lines if line.strip()]
    best, most = ",", 1
    for delimiter in DELIMITERS:
        try:
            counts = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        except csv.Error:
            continue
        if len(counts) == 1 and (n := counts.pop()) > most:
            best, most = delimiter, n
    return best


def read_csv(path, delimiter=None):
    """Read a CSV file with a header row as text.

    Parameters
    ----------
    path : str or os.PathLike
    delimiter : str, optional
        Default: sniffed from the first lines (see :func:`sniff_delimiter`).

    Returns
    -------
    CSVTable

    Raises
    ------
    CSVError
        For a missing file, a folder, a file that is not text, fewer than two rows, or a row whose number
        of cells differs from the header's.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CSVError(f"CSV file not found: {path!r}.")
    if os.path.isdir(path):
        raise CSVError(f"{path!r} is a folder, not a CSV file.")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise CSVError(f"The delimiter must be one character, got {delimiter!r}.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            if delimiter is None:
                head = [line for _, line in zip(range(_SNIFF_LINES), f)]
                delimiter = sniff_delimiter(head)
                f.seek(0)
            reader = csv.reader(f, delimiter=delimiter)
            rows, lines = [], []
            start = 1
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    rows.append([cell.strip() for cell in row])
                    lines.append(start)
                start = reader.line_num + 1
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CSVError(f"Could not read {path!r} as a CSV text file: {exc}.") from None
    if len(rows) < 2:
        raise CSVError(f"{path!r} needs a header row and at least one data row; it has {len(rows)} row(s).")
    header = rows[0]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise CSVError(f"{path!r} has more than one column named {', '.join(map(repr, duplicates))}.")
    for row, line in zip(rows[1:], lines[1:]):
        if len(row) != len(header):
            raise CSVError(
                f"{path!r} line {line} has {len(row)} values, but the header has {len(header)} columns"
                + (f" (separated by {delimiter!r})." if delimiter != "," else ".")
            )
    return CSVTable(path, header, rows[1:], lines[1:], delimiter)


def is_missing(text):
    """Whether a cell holds no value: empty, or a marker such as ``NA`` or ``?`` (see :data:`MISSING`)."""
    return text.lower() in MISSING


def parse_number(text, decimal_comma=False):
    """The float a cell holds, or None when it holds no number (a decimal comma only if allowed)."""
    try:
        return float(text)
    except ValueError:
        pass
    if decimal_comma and _DECIMAL_COMMA.fullmatch(text):
        return float(text.replace(",", "."))
    return None


#: How messages tell to drop rows with missing cells, or to leave a column of text out (``{name}``);
#: the command line names its own options instead.
DROP_HINT = "drop them with drop_missing=True or fill them in."
IGNORE_HINT = "leave it out with ignore=[{name!r}] or encode it as numbers."


def missing_rows(table, names):
    """The positions of the rows in which any of the columns ``names`` is missing."""
    columns = [table.index(name) for name in names]
    return [i for i, row in enumerate(table.rows) if any(is_missing(row[j]) for j in columns)]


def missing_error(table, names, rows, hint=None):
    """The CSVError for the rows ``rows`` with missing cells among the columns ``names``: the first one's line
    and column, how many there are and on which lines, and ``hint`` (how to go on)."""
    hint = DROP_HINT if hint is None else hint
    columns = [table.index(name) for name in names]
    first = rows[0]
    j = next(j for j in columns if is_missing(table.rows[first][j]))
    cell = table.rows[first][j]
    what = "an empty cell" if cell == "" else f"a missing value ({cell!r})"
    shown = ", ".join(str(table.lines[i]) for i in rows[:10]) + (", ..." if len(rows) > 10 else "")
    return CSVError(
        f"{table.path!r} line {table.lines[first]}, column {table.header[j]!r}: {what}. {len(rows)} row(s) have "
        f"missing cells (lines {shown}); {hint}"
    )


def feature_matrix(table, names, rows=None, ignore_hint=IGNORE_HINT):
    """The features ``(n_rows, len(names))`` from the named columns, as float64.

    Parameters
    ----------
    table : CSVTable
    names : list of str
    rows : list of int, optional
        The positions of the rows to take (default: all). They must hold no missing cells.
    ignore_hint : str
        How the message for a column of text tells to leave it out (``{name}`` is the column).

    Raises
    ------
    CSVError
        For a column that is not there, a cell that is not a number or an infinite value, with its line
        and column.
    """
    rows = range(len(table.rows)) if rows is None else rows
    columns = [table.index(name, "a feature") for name in names]
    X = np.empty((len(rows), len(names)), dtype=np.float64)
    for k, i in enumerate(rows):
        row = table.rows[i]
        for c, j in enumerate(columns):
            value = parse_number(row[j], table.decimal_comma)
            if value is None or not math.isfinite(value):
                name = table.header[j]
                why = "is not a number" if value is None else "is not finite"
                raise CSVError(
                    f"Column {name!r} of {table.path!r} must hold numbers to be a feature, but line {table.lines[i]} "
                    f"holds {row[j]!r}, which {why}; " + ignore_hint.format(name=name)
                )
            X[k, c] = value
    return X


class CSVDataset:
    """A data set read from a CSV file by :func:`load_csv`.

    Attributes
    ----------
    X : ndarray of float64, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
        Class indices into ``class_names`` (int64) for classification, values (float64) for regression.
    feature_names : list of str
    class_names : list of str or None
    task : {"classification", "regression"}
    target : str
    ids : list of str or None
        The ID column's cells, one per sample, when ``id_column`` was given.
    id_column : str or None
    ignored : list of str
    dropped_lines : list of int
        The lines of the rows left out for missing cells.
    delimiter : str
    target_guessed, task_guessed : bool
        Whether the target column (the last one) or the task was decided without being asked.
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)


def load_csv(path, target=None, task="auto", ignore=(), id_column=None, drop_missing=False, delimiter=None,
             drop_hint=DROP_HINT, ignore_hint=IGNORE_HINT):
    """A data set from a CSV file: every column but the target, the ID column and ``ignore`` is a feature.

    Parameters
    ----------
    path : str or os.PathLike
    target : str, optional
        The column to predict; default the last column that is not the ID column nor ignored.
    task : {"auto", "classification", "regression"}, default "auto"
        ``"auto"``: a target of text, or of at most :data:`MAX_CLASSES_AUTO` distinct integers, is
        classification; other numbers are regression.
    ignore : sequence of str
        Columns that are not features (names, free text, a column that would leak the answer).
    id_column : str, optional
        A column that identifies the rows (not a feature); its cells are kept in ``ids``.
    drop_missing : bool, default False
        Leave out the rows with a missing feature or target cell (their lines are in ``dropped_lines``)
        instead of raising.
    delimiter : str, optional
        Default: sniffed.
    drop_hint, ignore_hint : str
        How messages tell to drop rows or leave out a column (the command line names its options).

    Returns
    -------
    CSVDataset

    Raises
    ------
    CSVError
        Naming the file, the line and the column of what does not fit.
    """
    if task not in ("auto", "classification", "regression"):
        raise CSVError(f"`task` must be 'auto', 'classification' or 'regression', got {task!r}.")
    table = read_csv(path, delimiter)
    path = table.path
    ignore = list(dict.fromkeys(ignore))
    for name in ignore:
        table.index(name, "a column to ignore")
    if id_column is not None:
        table.index(id_column, "the ID column")
    target_guessed = task_guessed = False
    set_aside = set(ignore) | ({id_column} if id_column is not None else set())
    if target is None:
        remaining = [h for h in table.header if h not in set_aside]
        if not remaining:
            raise CSVError(f"{path!r} has no column left for the target once the ID and ignored columns are set aside.")
        target, target_guessed = remaining[-1], True
    elif target in set_aside:
        raise CSVError(f"The target column {target!r} of {path!r} is also the ID column or ignored.")
    table.index(target, "the target")
    feature_names = [h for h in table.header if h != target and h not in set_aside]
    if not feature_names:
        raise CSVError(f"{path!r} has no feature columns besides the target {target!r}.")

    missing = missing_rows(table, feature_names + [target])
    if missing and not drop_missing:
        raise missing_error(table, feature_names + [target], missing, drop_hint)
    dropped = set(missing)
    keep = [i for i in range(len(table.rows)) if i not in dropped]
    if not keep:
        raise CSVError(f"Every row of {path!r} has a missing cell; nothing is left to learn from.")
    X = feature_matrix(table, feature_names, keep, ignore_hint)
    j = table.index(target)
    raw = [table.rows[i][j] for i in keep]
    values = [parse_number(v, table.decimal_comma) for v in raw]
    numeric = all(v is not None for v in values)
    if task == "auto":
        if not numeric:
            task = "classification"
        else:
            arr = np.array(values)
            integral = bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
            task = "classification" if integral and len(np.unique(arr)) <= MAX_CLASSES_AUTO else "regression"
        task_guessed = True
    if task == "regression":
        bad = next((k for k, v in enumerate(values) if v is None or not math.isfinite(v)), None)
        if bad is not None:
            raise CSVError(
                f"A regression needs a numeric target, but column {target!r} of {path!r} holds {raw[bad]!r} at line "
                f"{table.lines[keep[bad]]}."
            )
        y = np.array(values, dtype=np.float64)
        class_names = None
    else:
        if numeric:
            keys = sorted(set(values))
            class_names = [number_name(v) for v in keys]
            lookup = {v: i for i, v in enumerate(keys)}
            y = np.array([lookup[v] for v in values], dtype=np.int64)
        else:
            class_names = sorted(set(raw))
            lookup = {v: i for i, v in enumerate(class_names)}
            y = np.array([lookup[v] for v in raw], dtype=np.int64)
        if len(class_names) < 2:
            raise CSVError(
                f"The target column {target!r} of {path!r} holds a single class ({class_names[0]!r}); nothing to learn."
            )
    ids = None if id_column is None else [table.rows[i][table.index(id_column)] for i in keep]
    return CSVDataset(
        X=X, y=y, feature_names=feature_names, class_names=class_names, task=task, target=target, ids=ids,
        id_column=id_column, ignored=ignore, dropped_lines=[table.lines[i] for i in sorted(dropped)],
        delimiter=table.delimiter, target_guessed=target_guessed, task_guessed=task_guessed, path=path,
    )


def number_name(value):
    """How a numeric class label is written: ``3`` for 3.0, ``2.5`` for 2.5."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def canonical_label(text, class_names, decimal_comma=False):
    """The class name a target cell stands for (``"1.0"`` is class ``"1"``), or the cell itself."""
    if text in class_names:
        return text
    value = parse_number(text, decimal_comma)
    return number_name(value) if value is not None and math.isfinite(value) else text
