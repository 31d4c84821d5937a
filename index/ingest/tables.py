"""Tables as text that keeps each cell with its column header.

A flattened table ("Engineering | 23 March 2027 | 2") loses which column a cell is in, so a question about one
row's floor can be answered with another row's. Every table reader (docx, HTML, xlsx, csv, pptx, odt, epub)
turns a table into one line per row, each cell named by its header and by the row's key (the value of its first
column of words, ``key_column``), the key first:

    Team: Engineering; Engineering move date: 23 March 2027; Engineering floor: 2.

One row is one sentence (cells joined by "; ", a full stop at the end), so the passage splitter keeps a row
together, and every value sits beside both its column and its row: on a table of five teams the reader answered
"Which floor will Engineering be on?"-style questions right 18 times of 21 this way, against 7 with the header
alone ("Floor: 2") and 11 with the key once per row (docs/documents.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

CELL_SEP = "; "  # between the cells of a row
_NUMBER = re.compile(r"^[\s$€£¥%+\-–.,:/()\d]*$")
# a line as ``row_text`` writes it for a table with a header: "Name: key; key column: value..."
_ROW_LINE = re.compile(r"^[^\n:;]{1,100}: ([^\n;]{1,300}); \1 [^\n:;]{1,100}: ", re.MULTILINE)


def clean_cell(value: object) -> str:
    """A cell's value as one line of text ("" for empty cells); floats that are whole numbers lose ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def has_header(rows: Sequence[Sequence[str]]) -> bool:
    """Whether the first row names the columns: at least two rows, at least two non-empty cells in the first
    row, none of them a number or a date-like value, and no repeated name."""
    if len(rows) < 2:
        return False
    first = [c for c in rows[0] if c]
    return len(first) >= 2 and len(set(first)) == len(first) and not any(_NUMBER.match(c) for c in first)


def _lower_first(name: str) -> str:
    """ "Move date" -> "move date", but "EUR rate" and "QA lead" stay as written."""
    return name[0].lower() + name[1:] if len(name) > 1 and name[1].islower() else name


def key_column(body: Sequence[Sequence[str]]) -> int:
    """The column that names a row: the first whose values are mostly words, not numbers or dates (a release
    table keyed by "3.1" is asked about as "Sarge"); the first column when every column is numeric."""
    width = max((len(r) for r in body), default=0)
    for j in range(width):
        values = [r[j] for r in body if j < len(r) and r[j]]
        if values and sum(not _NUMBER.match(v) for v in values) >= 0.8 * len(values):
            return j
    return 0


def row_text(cells: Sequence[str], header: Sequence[str] | None, key: int = 0) -> str:
    """One row as a sentence: "Key header: key; key header: value; ..." with the key cell first (values alone
    where a column has no header, and the whole row as plain values when the table has none)."""
    parts = []
    key_at = key if key < len(cells) and cells[key] else next((i for i, v in enumerate(cells) if v), None)
    order = ([key_at] if key_at is not None else []) + [i for i in range(len(cells)) if i != key_at]
    for i in order:
        value = cells[i]
        if not value:
            continue
        name = header[i] if header is not None and i < len(header) and header[i] else ""
        if not name or name == value:
            parts.append(value)
        elif i == key_at:
            parts.append(f"{name}: {value}")
        else:
            parts.append(f"{cells[key_at]} {_lower_first(name)}: {value}")
    if not parts:
        return ""
    text = CELL_SEP.join(parts)
    return text if text.endswith((".", "!", "?")) else text + "."


def row_line_starts(text: str) -> set[int]:
    """Offsets of the lines of ``text`` that are table rows written by ``row_text`` (key first, every other cell
    named by the key and its column), so passages can keep each row apart."""
    return {m.start() for m in _ROW_LINE.finditer(text)}


class RowCell(NamedTuple):
    """One cell of a row line: its column header and where its value sits in the line."""

    header: str
    start: int
    end: int


def parse_row(line: str) -> list[RowCell]:
    """The cells of a row line that ``row_text`` wrote for a table with a header, key cell first; [] for any
    other line. The inverse of ``row_text`` up to letter case and a value's own final full stop: every later cell
    is found after "; <key> "."""
    m = _ROW_LINE.match(line)
    if m is None:
        return []
    key = m.group(1)
    cells = [RowCell(line[: m.start(1) - 2], m.start(1), m.end(1))]
    sep = f"{CELL_SEP}{key} "
    pos = m.end(1)
    while pos < len(line):
        nxt = line.find(sep, pos + len(sep))
        end = len(line) if nxt < 0 else nxt
        part_start = pos + len(sep)
        colon = line.find(": ", part_start, end)
        if colon >= 0:
            value_end = end - 1 if nxt < 0 and line.endswith(".") else end
            if value_end > colon + 2:
                cells.append(RowCell(line[part_start:colon], colon + 2, value_end))
        pos = end
    return cells


def table_rows(rows: Iterable[Sequence[object]]) -> list[tuple[int, str]]:
    """The rows of a table as (index of the row in ``rows``, text line); see the module docstring. Empty rows
    and columns are dropped. Leading rows with a single value (a title above the table) stay lines of their
    own; the first row with two or more values is the header when it looks like one (``has_header``), and then
    names the cells of every later row instead of being a line itself."""
    grid = [(i, [clean_cell(c) for c in row]) for i, row in enumerate(rows)]
    grid = [(i, row) for i, row in grid if any(row)]
    if not grid:
        return []
    width = max(len(r) for _, r in grid)
    grid = [(i, r + [""] * (width - len(r))) for i, r in grid]
    keep = [j for j in range(width) if any(r[j] for _, r in grid)]
    grid = [(i, [r[j] for j in keep]) for i, r in grid]
    start = next((k for k, (_, r) in enumerate(grid) if sum(1 for c in r if c) >= 2), len(grid))
    out = [(i, row_text(r, None)) for i, r in grid[:start]]
    body = grid[start:]
    header = body[0][1] if body and has_header([r for _, r in body]) else None
    if header is not None:
        body = body[1:]
    key = key_column([r for _, r in body]) if header is not None else 0
    out += [(i, row_text(r, header, key)) for i, r in body]
    return [(i, line) for i, line in out if line]


def table_lines(rows: Iterable[Sequence[object]]) -> list[str]:
    """The text lines of ``table_rows``."""
    return [line for _, line in table_rows(rows)]
