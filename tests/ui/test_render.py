"""Unit tests of the UI layer's pure functions: escaping and highlighting."""

from __future__ import annotations

from docqa.ui.render import escape, highlight


def test_escape_makes_markup_inert():
    out = escape('<script>alert("x")</script> [a](javascript:b) **bold**')
    assert "<" not in out and ">" not in out and "[" not in out and "(" not in out and "*" not in out
    assert highlight("a <b> c", 2, 5) == "a <mark>&#60;b&#62;</mark> c"
