"""Jinja filters that quote free-text answers for each file format the template writes.

Answers such as the project name or description may hold quotes, backslashes, newlines or
any Unicode. Each filter returns text that is valid, and already in canonical form, for one
target: a TOML basic string, a Python string literal that `ruff format` leaves unchanged, or
a single line of prose.
"""

from __future__ import annotations

import unicodedata

from jinja2 import Environment
from jinja2.ext import Extension

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _must_escape(char: str) -> bool:
    """Control characters, surrogates and line separators never appear literally."""
    return unicodedata.category(char) in {"Cc", "Cs", "Zl", "Zp"}


def one_line(value: object) -> str:
    """Collapse every run of whitespace, newlines included, into one space."""
    return " ".join(str(value).split())


def toml_string(value: object) -> str:
    """Return a TOML basic string (double quoted) holding exactly `value`."""
    parts = ['"']
    for char in str(value):
        if char in _SHORT_ESCAPES:
            parts.append(_SHORT_ESCAPES[char])
        elif char == '"':
            parts.append('\\"')
        elif _must_escape(char):
            parts.append(f"\\u{ord(char):04X}")
        else:
            parts.append(char)
    parts.append('"')
    return "".join(parts)


def python_string(value: object) -> str:
    """Return a Python string literal for `value`, quoted the way `ruff format` prefers.

    Double quotes win unless they would need more escapes than single quotes.
    """
    text = str(value)
    quote = "'" if text.count('"') > text.count("'") else '"'
    parts = [quote]
    for char in text:
        if char in _SHORT_ESCAPES:
            parts.append(_SHORT_ESCAPES[char])
        elif char == quote:
            parts.append("\\" + quote)
        elif _must_escape(char):
            code = ord(char)
            parts.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            parts.append(char)
    parts.append(quote)
    return "".join(parts)


class TemplateFilters(Extension):
    """Registers the quoting filters with cookiecutter's Jinja environment."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["one_line"] = one_line
        environment.filters["toml_string"] = toml_string
        environment.filters["python_string"] = python_string
