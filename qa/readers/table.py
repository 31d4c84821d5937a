"""Answers from table rows: the cell in the column the question names, in the row the question names.

The span reader was trained on prose; on a row line ("Codename: Sarge; Sarge version: 3.1; Sarge release:
2005-06-06; ...") it usually finds the right cell but with too little confidence to answer, or picks the cell of
a neighbouring column. A table row says which column each value is in, so a question that names one row (by
any of its cells: "Sarge", "Debian 7") and one column ("released", "codename", "LTS ... end") is answered by
that cell. The match is by word stems (Snowball); it answers only when exactly one row and one column match
best, and otherwise leaves the question to the span reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

from docqa.index.backend import IndexView
from docqa.index.ingest.tables import RowCell, parse_row
from docqa.index.text import tokenize
from docqa.index.types import Span
from docqa.qa.readers import Candidate, Query
from docqa.qa.types import Hit

# the confidence of a cell answer: a rule, not a fitted model; above the span reader's threshold, so a cell
# the rule is sure of answers, and below its confident spans, so a confident prose answer still wins
CELL_CONFIDENCE = 0.5


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def stems(text: str) -> list[str]:
    """Stems of the words of ``text`` without stop words ("released" and "release" -> "releas")."""
    return _stemmer().stemWords(tokenize(text))


def _row_lines(hit: Hit) -> list[tuple[int, str]]:
    """(document offset, text) of the lines of a passage."""
    ps = hit.passage
    out, pos = [], ps.start
    for line in ps.text.split("\n"):
        out.append((pos, line))
        pos += len(line) + 1
    return out


def match_row(q: set[str], line: str, cells: Sequence[RowCell]) -> tuple[int, bool, float] | None:
    """How question stems ``q`` name a cell of a row line. A cell names the row when every stem of its value is
    in the question (the key cell first, then the longest value). The answer is the other cell whose header
    shares the most stems with the rest of the question (the naming cell's value and header left out), then the
    largest share of its header. Returns (index of the answer cell, whether the key named the row, stems found +
    their share), or None when no cell names the row, no header shares a stem or two headers tie."""
    values = [set(stems(line[c.start : c.end])) for c in cells]
    naming = [i for i, v in enumerate(values) if v and v <= q]
    if not naming:
        return None
    named = max(naming, key=lambda i: (i == 0, len(values[i])))
    rest = q - values[named] - set(stems(cells[named].header))  # "which currency has the code CHF"
    best: tuple[int, float] | None = None
    best_i, tie = -1, False
    for i, c in enumerate(cells):
        h = set(stems(c.header))
        found = len(h & rest)
        if i == named or not found:
            continue
        score = (found, found / len(h))
        if best is None or score > best:
            best, best_i, tie = score, i, False
        elif score == best:
            tie = True
    if best is None or tie:
        return None
    return best_i, named == 0, best[0] + best[1]


class TableReader:
    """Cells of table rows named by the question (see the module docstring); at most one answer per question."""

    name = "table"

    def read(self, query: Query, hits: Sequence[Hit], view: IndexView) -> list[Candidate]:
        """The one cell the question names among the row lines of ``hits``, or [] (none, or two rows alike)."""
        q = set(stems(query.text))
        matches: list[tuple[tuple[bool, float], Candidate]] = []
        seen: set[tuple[str, int]] = set()
        for hit in hits:
            for pos, line in _row_lines(hit):
                if (hit.passage.doc_id, pos) in seen:
                    continue
                seen.add((hit.passage.doc_id, pos))
                cells = parse_row(line)
                m = match_row(q, line, cells) if cells else None
                if m is None:
                    continue
                i, by_key, col = m
                start, end = pos + cells[i].start, pos + cells[i].end
                line_span = Span(pos, pos + len(line))
                cand = Candidate(hit, start, end, line_span, "span", col, CELL_CONFIDENCE, {"table": 1.0})
                matches.append(((by_key, col), cand))
        if not matches:
            return []
        matches.sort(key=lambda m: m[0], reverse=True)
        if len(matches) > 1 and matches[1][0] == matches[0][0]:
            return []  # two rows match alike: the question does not say which
        return [matches[0][1]]


def with_cells(spans: list[Candidate], cells: list[Candidate]) -> list[Candidate]:
    """The span reader's candidates with the table reader's cells: a cell replaces the spans found in its row
    line and is at least as confident as the best of them (and ``CELL_CONFIDENCE``); best first."""
    if not cells:
        return spans
    out = list(spans)
    for cell in cells:
        row = cell.sentence
        same = [s for s in out if s.doc_id == cell.doc_id and row.start <= s.start < row.end]
        conf = max([cell.confidence, *(s.confidence for s in same)])
        out = [s for s in out if s not in same] + [replace(cell, confidence=conf)]
    out.sort(key=lambda c: -c.confidence)
    return out
