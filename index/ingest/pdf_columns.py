"""Reading order of PDF pages set in two columns.

pypdf returns a page's text in the order of its content stream. LaTeX and word processors write one column and
then the other, so their pages read right; some producers write the page line by line across both columns, and
the text then alternates between them mid-sentence. A page is read in two columns when a vertical gutter near
its middle is crossed by (almost) no text while both sides hold lines of prose side by side; its text is then
the left column's pieces, then the right column's, each in stream order, with text spanning the gutter (a
title) kept before or after them by its height. Every other page, and every two-column page whose stream
already goes column by column, keeps pypdf's text exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAR_WIDTH = 0.42  # glyph width as a share of the font size: a low estimate (widths are not decoded), so a
# full column line of proportional type does not seem to cross a narrow gutter
MIN_LINES = 6  # lines of prose each column needs before a page counts as two columns
MIN_LINE_CHARS = 20  # average characters of a column's lines (a table's short key column is not a column)
MAX_SWITCHES = 3  # column changes in stream order of a page written column by column (a side note, a float)
MAX_CROSSING = 0.03  # share of the pieces between the columns' first and last shared line that may cross the gutter


@dataclass(frozen=True)
class Piece:
    """A piece of text as pypdf emits it, with where it starts on the page (points) and its font size."""

    text: str
    x: float
    y: float
    size: float

    @property
    def end(self) -> float:
        return self.x + len(self.text.strip()) * self.size * CHAR_WIDTH


def collect(page) -> tuple[str, list[Piece]]:
    """pypdf's text of ``page`` and its pieces (one extraction pass: the pieces joined are the text)."""
    pieces: list[Piece] = []

    def visit(text, cm, tm, _font, size) -> None:
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        pieces.append(Piece(text, float(x), float(y), float(size or 0.0)))

    text = page.extract_text(visitor_text=visit) or ""
    return text, pieces


def _lines(pieces: list[Piece]) -> dict[int, int]:
    """Characters per line (pieces grouped by their rounded height)."""
    out: dict[int, int] = {}
    for p in pieces:
        out[round(p.y)] = out.get(round(p.y), 0) + len(p.text.strip())
    return out


def gutter(pieces: list[Piece], width: float) -> float | None:
    """The x of a gutter between two columns of prose, or None when the page is not set in two columns: some x
    in the middle 30% of the page that (almost) no piece crosses between the first and the last line the two
    sides share, with enough lines of prose on each side, side by side."""
    words = [p for p in pieces if p.text.strip() and p.size > 0]
    if len(words) < 2 * MIN_LINES or width <= 0:
        return None
    best: tuple[int, float, float] | None = None  # (pieces crossing, distance from the middle, x)
    for step in range(35, 66):
        g = width * step / 100
        left = [p.y for p in words if p.end <= g]
        right = [p.y for p in words if p.x >= g]
        if not left or not right:
            continue
        low, high = max(min(left), min(right)), min(max(left), max(right))
        band = [p for p in words if low <= p.y <= high]
        crossing = sum(1 for p in band if p.x < g < p.end)
        if crossing > MAX_CROSSING * len(band):
            continue
        key = (crossing, abs(step - 50), g)
        if best is None or key < best:
            best = key
    if best is None:
        return None
    g = best[2]
    left_lines = _lines([p for p in words if p.end <= g])
    right_lines = _lines([p for p in words if p.x >= g])
    if len(left_lines) < MIN_LINES or len(right_lines) < MIN_LINES:
        return None
    mean = min(sum(left_lines.values()) / len(left_lines), sum(right_lines.values()) / len(right_lines))
    if mean < MIN_LINE_CHARS:
        return None
    side_by_side = sum(1 for y in right_lines if any(abs(y - z) <= 2 for z in left_lines))
    return g if side_by_side >= 0.5 * len(right_lines) else None


def column_text(pieces: list[Piece], width: float) -> str | None:
    """The page's text read column by column, or None when it is not set in two columns (see the module)."""
    g = gutter(pieces, width)
    if g is None:
        return None
    column = [p for p in pieces if p.text.strip() and (p.end <= g or p.x >= g)]
    sides = [p.end <= g for p in column]
    if sum(a != b for a, b in zip(sides, sides[1:], strict=False)) <= MAX_SWITCHES:
        return None  # written column by column already: pypdf's text stands as it is
    groups: dict[str, list[Piece]] = {"above": [], "left": [], "right": [], "below": []}
    top = max(p.y for p in column)
    for p in pieces:
        if not p.text.strip():
            continue  # spacing and line breaks are rebuilt from the positions below
        if p.end <= g:
            side = "left"
        elif p.x >= g:
            side = "right"
        else:
            side = "above" if p.y > top else "below"
        groups[side].append(p)
    return "\n".join(t for t in (_join(groups[k]) for k in ("above", "left", "right", "below")) if t)


def _join(pieces: list[Piece]) -> str:
    """Pieces in stream order, as pypdf spaced them within a line, with a line break where the height changes."""
    out: list[str] = []
    prev: Piece | None = None
    for p in pieces:
        text = p.text.strip("\n")
        if prev is not None and abs(p.y - prev.y) > max(1.0, 0.3 * p.size):
            out.append("\n")
            text = text.lstrip()
        out.append(text)
        prev = p
    return "".join(out).strip()
