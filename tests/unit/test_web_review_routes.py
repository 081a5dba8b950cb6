"""The review pages' helpers: times, seek fragments and safe search snippets."""

from __future__ import annotations

import pytest

from pegasus.web.pages import clock
from pegasus.web.review_routes import safe_snippet, seek_fragment


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0:00"), (9.99, "0:09"), (61.5, "1:01"), (3599, "59:59"), (3723.4, "1:02:03")],
)
def test_clock(seconds: float, expected: str) -> None:
    assert clock(seconds) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0.0, "t=0"), (12.0, "t=12"), (12.34, "t=12.34"), (7.12345, "t=7.123"), (-1.0, "t=0")],
)
def test_seek_fragment(seconds: float, expected: str) -> None:
    assert seek_fragment(seconds) == expected


def test_safe_snippet_escapes_everything_but_the_match_marks() -> None:
    snippet = 'say <mark>stomata</mark> <img src=x onerror=alert(1)> & "q" </mark'
    assert str(safe_snippet(snippet)) == (
        "say <mark>stomata</mark> &lt;img src=x onerror=alert(1)&gt; &amp; &#34;q&#34; &lt;/mark"
    )


def test_safe_snippet_turns_no_other_tag_back() -> None:
    assert str(safe_snippet("<mark onclick=x>a</mark>")) == "&lt;mark onclick=x&gt;a</mark>"
