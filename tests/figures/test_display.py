"""evkit.display: device strings made safe to show (Plotly, HTML) and to export (CSV)."""

from __future__ import annotations

import html

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evkit.display import (
    CSV_FORMULA_START,
    DISPLAY_LIMIT,
    LABEL_LIMIT,
    csv_safe,
    csv_safe_cell,
    display_labels,
    escape_for_plotly,
    escape_html,
    html_text,
    plotly_labels,
    plotly_text,
    plotly_text_expr,
    truncate_for_display,
)

#: Text with the characters that matter (markup, entities, template braces, formula starts); no lone
#: surrogates, which no UTF-8 store can hold.
TEXT = st.text(
    alphabet=st.sampled_from(list("<>&%{}=+-@\t\r'\"ab #…;")) | st.characters(exclude_categories=("Cs",)),
    max_size=150,
)


@given(TEXT, st.integers(min_value=1, max_value=100))
def test_truncation_keeps_a_prefix_within_the_limit(text: str, limit: int) -> None:
    cut = truncate_for_display(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    else:
        assert cut == text[: limit - 1] + "…"


def test_truncation_needs_room_for_a_character() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        truncate_for_display("abc", 0)


@given(TEXT)
def test_plotly_escaping_leaves_no_tag_nor_substitution_and_decodes_to_the_text(text: str) -> None:
    escaped = escape_for_plotly(text)
    assert "<" not in escaped and ">" not in escaped and "%{" not in escaped
    assert html.unescape(escaped) == text  # plotly.js decodes &amp; &lt; &gt; and &#37; when it draws


def test_plotly_text_of_a_link_and_a_template() -> None:
    link = '<a href="https://evil.example/verify">verify</a>'
    assert plotly_text(link) == '&lt;a href="https://evil.example/verify"&gt;verify&lt;/a&gt;'
    assert plotly_text("%{customdata[0]} & %") == "&#37;{customdata[0]} &amp; %"
    assert plotly_text("x" * 100) == "x" * 63 + "…"
    assert plotly_text(12) == "12"


@given(st.lists(TEXT | st.none(), max_size=20), st.integers(min_value=1, max_value=80))
def test_the_column_expression_equals_the_function(values: list[str | None], limit: int) -> None:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    got = frame.select(plotly_text_expr(pl.col("v"), limit))["v"].to_list()
    assert got == [None if v is None else plotly_text(v, limit) for v in values]


@given(st.lists(TEXT | st.none(), max_size=20), st.integers(min_value=8, max_value=40))
def test_labels_stay_distinct_and_short(values: list[str | None], limit: int) -> None:
    labels = plotly_labels(pl.Series(values, dtype=pl.String), limit).to_list()
    assert [v is None for v in values] == [label is None for label in labels]
    pairs = {(v, label) for v, label in zip(values, labels, strict=True) if v is not None}
    assert len({v for v, _ in pairs}) == len({label for _, label in pairs}) == len(pairs)
    for _, label in pairs:
        assert "<" not in label and "%{" not in label
        assert len(html.unescape(label)) <= limit


@given(st.lists(TEXT | st.none(), max_size=20), st.integers(min_value=8, max_value=40))
def test_display_labels_are_the_plotly_labels_unescaped(values: list[str | None], limit: int) -> None:
    series = pl.Series(values, dtype=pl.String)
    shown = display_labels(series, limit).to_list()
    escaped = plotly_labels(series, limit).to_list()
    assert shown == [None if e is None else html.unescape(e) for e in escaped]


def test_labels_of_two_long_ids_sharing_a_prefix_are_numbered() -> None:
    first, second = "EH" + "x" * 200, "EH" + "x" * 200 + "2"
    labels = display_labels(pl.Series([second, first, "short"])).to_list()
    assert labels == ["EH" + "x" * 58 + "… #2", "EH" + "x" * 58 + "… #1", "short"]
    assert all(len(label) == DISPLAY_LIMIT for label in labels[:2])
    # axis ticks and legend names are shorter still, numbered the same way
    ticks = plotly_labels(pl.Series([second, first, "short"])).to_list()
    assert ticks == ["EH" + "x" * 26 + "… #2", "EH" + "x" * 26 + "… #1", "short"]
    assert all(len(label) == LABEL_LIMIT for label in ticks[:2])


def test_html_text_escapes_quotes_too_and_cuts() -> None:
    assert escape_html('<b title="x">&</b>') == "&lt;b title=&quot;x&quot;&gt;&amp;&lt;/b&gt;"
    assert html_text("<" * 100) == "&lt;" * 63 + "…"


@given(TEXT | st.integers() | st.floats(allow_nan=False) | st.none())
def test_a_csv_cell_never_starts_like_a_formula(value: object) -> None:
    cell = csv_safe_cell(value)
    if isinstance(value, str):
        assert not cell.startswith(CSV_FORMULA_START)
        assert cell in (value, "'" + value)
    else:
        assert cell == value  # numbers (negative ones too) stay numbers


def test_csv_safe_touches_string_columns_only() -> None:
    frame = pl.DataFrame(
        {
            "token": ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "ok", None],
            "kwh": [-1.5, -2.0, 3.0, -4.0, 5.0, 6.0, 7.0, None],
            "n": [-1, -2, 3, 4, 5, 6, 7, 8],
        }
    )
    safe = csv_safe(frame)
    assert safe["token"].to_list() == [
        '\'=HYPERLINK("http://x","y")',
        "'+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "ok",
        None,
    ]
    assert safe.select("kwh", "n").equals(frame.select("kwh", "n"))
    assert safe.schema == frame.schema


@given(st.lists(TEXT | st.none(), max_size=20))
def test_csv_safe_equals_the_cell_rule(values: list[str | None]) -> None:
    safe = csv_safe(pl.DataFrame({"v": values}, schema={"v": pl.String}))["v"].to_list()
    assert safe == [None if v is None else csv_safe_cell(v) for v in values]
