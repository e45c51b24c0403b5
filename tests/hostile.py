"""Hostile values that the unit tests of the parsers and the HTTP tests of their wiring
share (`tests/unit/test_hostile_*.py`, `tests/e2e/test_hostile_input.py`)."""

from __future__ import annotations

MAX = str(2**63 - 1)
"""The largest PostgreSQL bigint: the largest id, version and size."""
BIG = str(2**63)
"""One past the largest bigint."""
HUGE = str(2**64)
"""One past the largest unsigned 64-bit integer."""
LONG_DIGITS = "9" * 5000
"""More digits than Python's int() converts (4,300)."""
ARABIC_ONE = "\u0661"  # ARABIC-INDIC DIGIT ONE: str.isdigit() is true, int() reads 1
FULLWIDTH_ONE = "\uff11"  # FULLWIDTH DIGIT ONE: the same
SUPERSCRIPT_TWO = "\u00b2"  # ²: str.isdigit() is true, int() refuses it


def label(value: object) -> str:
    """A short, printable test id for a hostile value."""
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:20]}...({len(text)})"
