"""Recursive-descent parser for the SOQL subset the sandbox answers."""

from __future__ import annotations

from sandbox.salesforce.soql.errors import SoqlError
from sandbox.salesforce.soql.lexer import Kind, Token, tokenize
from sandbox.salesforce.soql.nodes import (
    BoolOp,
    Compare,
    Condition,
    DateRange,
    InList,
    Like,
    Literal,
    Not,
    OrderItem,
    Path,
    Query,
)

FIXED_RANGES = frozenset({
    "TODAY", "YESTERDAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "LAST_MONTH", "THIS_MONTH",
    "NEXT_MONTH", "LAST_QUARTER", "THIS_QUARTER", "NEXT_QUARTER", "LAST_YEAR", "THIS_YEAR", "NEXT_YEAR",
    "LAST_90_DAYS", "NEXT_90_DAYS",
})  # fmt: skip
N_RANGES = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"})
_CLAUSE_WORDS = frozenset({"FROM", "WHERE", "ORDER", "LIMIT", "OFFSET", "AND", "OR", "NOT", "IN", "LIKE"})


def parse(source: str) -> Query:
    return _Parser(tokenize(source)).query()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._i = 0

    # -- token helpers -----------------------------------------------------------------------

    @property
    def _tok(self) -> Token:
        return self._tokens[self._i]

    def _at(self, kind: Kind) -> bool:
        return self._tokens[self._i].kind is kind

    def _advance(self) -> Token:
        tok = self._tokens[self._i]
        if tok.kind is not Kind.EOF:
            self._i += 1
        return tok

    def _unexpected(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self._tok
        shown = "<EOF>" if tok.kind is Kind.EOF else tok.text
        return SoqlError("MALFORMED_QUERY", f"unexpected token: '{shown}'", tok.pos)

    def _expect_word(self, word: str) -> Token:
        if not self._tok.is_word(word):
            raise self._unexpected()
        return self._advance()

    def _expect(self, kind: Kind) -> Token:
        if self._tok.kind is not kind:
            raise self._unexpected()
        return self._advance()

    # -- grammar -------------------------------------------------------------------------------

    def query(self) -> Query:
        self._expect_word("SELECT")
        fields: list[Path] = []
        count_only = False
        if self._tok.is_word("COUNT") and self._tokens[self._i + 1].kind is Kind.LPAREN:
            self._advance()
            self._advance()
            if not self._at(Kind.RPAREN):
                raise SoqlError(
                    "MALFORMED_QUERY", "the sandbox answers COUNT() only, not COUNT(field)", self._tok.pos
                )
            self._advance()
            count_only = True
        else:
            fields.append(self._select_item())
            while self._at(Kind.COMMA):
                self._advance()
                fields.append(self._select_item())
        self._expect_word("FROM")
        sobject = self._expect(Kind.IDENT)
        where = None
        if self._tok.is_word("WHERE"):
            self._advance()
            where = self._condition()
        order: list[OrderItem] = []
        if self._tok.is_word("ORDER"):
            self._advance()
            self._expect_word("BY")
            order.append(self._order_item())
            while self._at(Kind.COMMA):
                self._advance()
                order.append(self._order_item())
        limit = self._int_clause("LIMIT")
        offset = self._int_clause("OFFSET")
        if not self._at(Kind.EOF):
            raise self._unexpected()
        return Query(tuple(fields), count_only, sobject.text, sobject.pos, where, tuple(order), limit, offset)

    def _select_item(self) -> Path:
        if self._at(Kind.LPAREN):
            raise SoqlError(
                "MALFORMED_QUERY", "the sandbox does not answer relationship subqueries", self._tok.pos
            )
        if self._tok.is_word("FROM"):
            raise self._unexpected()
        return self._path()

    def _path(self) -> Path:
        first = self._tok
        if first.kind is not Kind.IDENT or first.text.upper() in _CLAUSE_WORDS:
            raise self._unexpected()
        parts = [self._advance().text]
        while self._at(Kind.DOT):
            self._advance()
            parts.append(self._expect(Kind.IDENT).text)
        return Path(tuple(parts), first.pos)

    def _int_clause(self, word: str) -> int | None:
        if not self._tok.is_word(word):
            return None
        self._advance()
        tok = self._expect(Kind.NUMBER)
        if "." in tok.text or tok.text.startswith(("-", "+")):
            raise self._unexpected(tok)
        return int(tok.text)

    def _order_item(self) -> OrderItem:
        path = self._path()
        descending = False
        if self._tok.is_word("ASC", "DESC"):
            descending = self._advance().text.upper() == "DESC"
        nulls_last = False
        if self._tok.is_word("NULLS"):
            self._advance()
            if not self._tok.is_word("FIRST", "LAST"):
                raise self._unexpected()
            nulls_last = self._advance().text.upper() == "LAST"
        return OrderItem(path, descending, nulls_last)

    def _condition(self) -> Condition:
        """A flat run of one connector; SOQL refuses AND and OR side by side without parentheses."""
        first = self._unary()
        if not self._tok.is_word("AND", "OR"):
            return first
        op = self._tok.text.upper()
        operands = [first]
        while self._tok.is_word("AND", "OR"):
            if self._tok.text.upper() != op:
                raise self._unexpected()
            self._advance()
            operands.append(self._unary())
        return BoolOp(op, tuple(operands))

    def _unary(self) -> Condition:
        if self._tok.is_word("NOT"):
            self._advance()
            return Not(self._unary())
        if self._at(Kind.LPAREN):
            self._advance()
            inner = self._condition()
            self._expect(Kind.RPAREN)
            return inner
        return self._predicate()

    def _predicate(self) -> Condition:
        path = self._path()
        tok = self._tok
        if tok.kind is Kind.OP:
            self._advance()
            return Compare(path, tok.text, self._literal())
        if tok.is_word("LIKE"):
            self._advance()
            pattern = self._literal()
            if pattern.kind != "string":
                raise self._unexpected(self._tokens[self._i - 1])
            return Like(path, pattern)
        negated = False
        if tok.is_word("NOT") and self._tokens[self._i + 1].is_word("IN"):
            self._advance()
            negated = True
        if self._tok.is_word("IN"):
            self._advance()
            self._expect(Kind.LPAREN)
            values = [self._literal()]
            while self._at(Kind.COMMA):
                self._advance()
                values.append(self._literal())
            self._expect(Kind.RPAREN)
            return InList(path, tuple(values), negated)
        raise self._unexpected()

    def _literal(self) -> Literal:
        tok = self._advance()
        if tok.kind is Kind.STRING:
            return Literal("string", tok.value, tok.pos, tok.like)
        if tok.kind is Kind.NUMBER:
            return Literal("number", tok.value, tok.pos)
        if tok.kind is Kind.DATE:
            return Literal("date", tok.value, tok.pos)
        if tok.kind is Kind.DATETIME:
            return Literal("datetime", tok.value, tok.pos)
        if tok.kind is Kind.IDENT:
            word = tok.text.upper()
            if word == "NULL":
                return Literal("null", None, tok.pos)
            if word in ("TRUE", "FALSE"):
                return Literal("boolean", word == "TRUE", tok.pos)
            if word in FIXED_RANGES:
                return Literal("range", DateRange(word), tok.pos)
            if word in N_RANGES:
                self._expect(Kind.COLON)
                n = self._expect(Kind.NUMBER)
                if "." in n.text or n.text.startswith(("-", "+")):
                    raise self._unexpected(n)
                return Literal("range", DateRange(word, int(n.text)), tok.pos)
        raise self._unexpected(tok)
