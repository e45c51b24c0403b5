"""A download's file name, for clients that read RFC 8187's `filename*` and for those
that read only the ASCII `filename`."""

from __future__ import annotations

import re
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from api.composition.signing import content_disposition

SHAPE = re.compile(
    r"""attachment; filename="([ -!#-$&-\[\]-~]*)"; filename\*=UTF-8''([A-Za-z0-9%._~-]+)"""
)


def test_a_plain_name_is_the_same_in_both() -> None:
    assert content_disposition("report.pdf") == (
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    )


def test_other_characters_quotes_backslashes_and_percent_become_underscores_in_ascii() -> None:
    header = content_disposition('Über "q"\\50%.txt')
    assert header.startswith('attachment; filename="_ber _q__50_.txt"; ')
    assert header.endswith("filename*=UTF-8''%C3%9Cber%20%22q%22%5C50%25.txt")


@given(st.text(min_size=1, max_size=200))
def test_every_name_gives_a_well_formed_header_that_keeps_it_exactly(name: str) -> None:
    found = SHAPE.fullmatch(content_disposition(name))
    assert found is not None
    assert len(found.group(1)) == len(name)
    assert unquote(found.group(2), errors="surrogatepass") == name
