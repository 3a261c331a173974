"""Turns SOQL text into tokens; string escapes follow Salesforce's quoted-string rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sandbox.salesforce.soql.errors import SoqlError
from sandbox.salesforce.values import parse_datetime


class Kind(Enum):
    IDENT = "identifier"
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    OP = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    DOT = "."
    COLON = ":"
    EOF = "end of query"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    pos: int
    value: Any = None
    like: re.Pattern[str] | None = None

    def is_word(self, *words: str) -> bool:
        return self.kind is Kind.IDENT and self.text.upper() in words


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))?")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_PUNCTUATION = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA, ".": Kind.DOT, ":": Kind.COLON}
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            token, i = _string(source, i)
            tokens.append(token)
            continue
        if ch.isdigit() or (ch in "+-" and i + 1 < n and source[i + 1].isdigit()):
            token, i = _number_or_date(source, i)
            tokens.append(token)
            continue
        ident = _IDENT.match(source, i)
        if ident:
            tokens.append(Token(Kind.IDENT, ident.group(), i))
            i = ident.end()
            continue
        op = next((o for o in _OPERATORS if source.startswith(o, i)), None)
        if op:
            tokens.append(Token(Kind.OP, "!=" if op == "<>" else op, i))
            i += len(op)
            continue
        if ch in _PUNCTUATION:
            tokens.append(Token(_PUNCTUATION[ch], ch, i))
            i += 1
            continue
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{ch}'", i)
    tokens.append(Token(Kind.EOF, "", n))
    return tokens


def _number_or_date(source: str, i: int) -> tuple[Token, int]:
    when = _DATE.match(source, i)
    if when and source[i] not in "+-":
        text = when.group()
        try:
            if "T" in text:
                value: date | datetime = parse_datetime(text)
                return Token(Kind.DATETIME, text, i, value), when.end()
            return Token(Kind.DATE, text, i, date.fromisoformat(text)), when.end()
        except ValueError as exc:
            raise SoqlError(
                "MALFORMED_QUERY", f"line 1:{i} no viable alternative at character '{text}'", i
            ) from exc
    number = _NUMBER.match(source, i)
    assert number is not None
    text = number.group()
    return Token(Kind.NUMBER, text, i, Decimal(text)), number.end()


def _string(source: str, start: int) -> tuple[Token, int]:
    """Decodes a quoted string, building its LIKE pattern alongside (`\\%` and `\\_` are literal)."""
    chars: list[str] = []
    pattern: list[str] = []
    i = start + 1
    while i < len(source):
        ch = source[i]
        if ch == "'":
            like = re.compile("".join(pattern), re.IGNORECASE | re.DOTALL)
            return Token(Kind.STRING, source[start : i + 1], start, "".join(chars), like), i + 1
        if ch == "\\":
            if i + 1 >= len(source):
                break
            nxt = source[i + 1]
            if nxt in _ESCAPES:
                chars.append(_ESCAPES[nxt])
                pattern.append(re.escape(_ESCAPES[nxt]))
                i += 2
            elif nxt in "%_":
                # Only meaningful in LIKE; elsewhere Salesforce keeps the backslash.
                chars.append("\\" + nxt)
                pattern.append(re.escape(nxt))
                i += 2
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", source[i + 2 : i + 6]):
                decoded = chr(int(source[i + 2 : i + 6], 16))
                chars.append(decoded)
                pattern.append(re.escape(decoded))
                i += 6
            else:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    f"Invalid string literal '{source[start : i + 2]}'. Illegal character sequence '\\{nxt}' "
                    "in string literal.",
                    i,
                )
            continue
        chars.append(ch)
        pattern.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    raise SoqlError("MALFORMED_QUERY", f"line 1:{start} mismatched character '<EOF>' expecting '''", start)
