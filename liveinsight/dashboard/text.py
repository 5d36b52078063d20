"""Collected text shown as text: in Streamlit's Markdown, in plotly's labels and in CSV cells.

Page paths, sources, referrers, campaigns, event types, property values and site names come
from the public collector: strangers write them. Streamlit parses Markdown (with GitHub's
autolinks, `$` maths and `:directives:`) in st.markdown, st.caption, st.info/warning/error,
st.table cells, headers, labels and help=; plotly parses a subset of HTML (`<a href>`, `<b>`,
`<br>`) in titles, tick labels, legends and hovers; a spreadsheet runs a CSV cell that starts
with `=`, `+`, `-`, `@`, a tab or a carriage return as a formula. Each context has one function
here, and every collected string reaches it through that function. This module imports neither
Streamlit nor plotly, so it is tested without them.
"""
from __future__ import annotations

import csv
import re
import string

import pandas as pd

# Controls that reorder or hide text (bidi overrides and isolates, marks, C0/C1 controls): shown
# as their code point, so "/invoice\u202Efdp.exe" cannot read as "/invoiceexe.pdf".
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# CommonMark lets a backslash escape any ASCII punctuation; escaped, none of it is markup.
_MARKDOWN = re.compile("([" + re.escape(string.punctuation) + "])")
# Streamlit turns bare URLs, `www.` hosts and e-mail addresses into links after parsing, escapes or not
# (GitHub's autolink literals): an invisible word joiner inside the scheme, after `www` and after `@`
# leaves the text as it reads and no link.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|xmpp|www)(?=[:.])|@")
WORD_JOINER = "\u2060"
# OWASP's list of the characters a spreadsheet reads a formula from.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def visible(value: object) -> str:
    """The value as a string whose every hidden or reordering control shows as its code point, e.g. [U+202E]."""
    return _HIDDEN.sub(lambda match: f"[U+{ord(match.group()):04X}]", str(value))


def visible_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell through `visible` (st.dataframe draws text as text, controls included)."""
    return frame.assign(**{column: frame[column].map(lambda cell: visible(cell) if isinstance(cell, str) else cell)
                           for column in frame.columns if _is_text(frame[column])})


def plain(value: object) -> str:
    """Collected text for any Streamlit element that parses Markdown: it shows literally, nothing in it is markup."""
    return _MARKDOWN.sub(r"\\\1", _AUTOLINK.sub(lambda m: m.group() + WORD_JOINER, visible(value)))


def chart_text(value: object) -> str:
    """Collected text for a plotly title, label, legend or hover: it shows literally, no tag in it is drawn."""
    return visible(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a string starting with a formula prefix gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV for a download, every text cell through csv_cell (numbers stay numbers)."""
    safe = frame.copy()
    for column in safe.columns:
        if _is_text(safe[column]):
            safe[column] = safe[column].map(csv_cell)
    safe.columns = [csv_cell(str(column)) for column in safe.columns]
    # Every text cell quoted: a carriage return inside one would otherwise end the row.
    return safe.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode()


def _is_text(column: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)
