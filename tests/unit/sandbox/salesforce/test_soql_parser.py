"""The SOQL tokenizer and parser: what they accept, how they read it, and what they refuse."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from simple_salesforce import format_soql

from sandbox.salesforce.soql.errors import SoqlError
from sandbox.salesforce.soql.lexer import Kind, tokenize
from sandbox.salesforce.soql.nodes import BoolOp, Compare, DateRange, InList, Like, Not
from sandbox.salesforce.soql.parser import parse


def test_select_list_with_relationship_paths_and_clauses() -> None:
    q = parse(
        "select Id, Account__r.Store_Id__c, Owner.Name from Risk_Flag__c "
        "order by Opened_At__c desc nulls last, Name limit 50 offset 10"
    )
    assert [p.parts for p in q.fields] == [("Id",), ("Account__r", "Store_Id__c"), ("Owner", "Name")]
    assert q.sobject == "Risk_Flag__c"
    assert [(o.path.text, o.descending, o.nulls_last) for o in q.order_by] == [
        ("Opened_At__c", True, True),
        ("Name", False, False),
    ]
    assert (q.limit, q.offset, q.count_only, q.where) == (50, 10, False, None)


def test_count_query() -> None:
    q = parse("SELECT COUNT() FROM Task WHERE IsClosed = false")
    assert q.count_only and q.fields == ()
    assert isinstance(q.where, Compare) and q.where.value.value is False


@pytest.mark.parametrize(
    ("where", "kind", "value"),
    [
        ("X = 'abc'", "string", "abc"),
        ("X = 42", "number", Decimal(42)),
        ("X = -3.5", "number", Decimal("-3.5")),
        ("X = null", "null", None),
        ("X = TRUE", "boolean", True),
        ("X = 2026-03-04", "date", date(2026, 3, 4)),
        ("X = 2026-03-04T10:00:00Z", "datetime", datetime(2026, 3, 4, 10, tzinfo=UTC)),
        ("X > 2026-03-04T10:00:00+02:00", "datetime", datetime(2026, 3, 4, 8, tzinfo=UTC)),
        ("X = TODAY", "range", DateRange("TODAY")),
        ("X = LAST_N_DAYS:7", "range", DateRange("LAST_N_DAYS", 7)),
        ("X < NEXT_N_DAYS:30", "range", DateRange("NEXT_N_DAYS", 30)),
    ],
)
def test_literals(where: str, kind: str, value: object) -> None:
    cond = parse(f"SELECT Id FROM Account WHERE {where}").where
    assert isinstance(cond, Compare)
    assert (cond.value.kind, cond.value.value) == (kind, value)


def test_operators_including_the_not_equal_spellings() -> None:
    for text, op in [
        ("=", "="),
        ("!=", "!="),
        ("<>", "!="),
        ("<", "<"),
        ("<=", "<="),
        (">", ">"),
        (">=", ">="),
    ]:
        cond = parse(f"SELECT Id FROM Account WHERE Name {text} 'a'").where
        assert isinstance(cond, Compare) and cond.op == op


def test_boolean_structure_follows_parentheses_and_not() -> None:
    cond = parse("SELECT Id FROM A WHERE (a = 1 OR b = 2) AND NOT c = 3 AND d NOT IN ('x', 'y')").where
    assert isinstance(cond, BoolOp) and cond.op == "AND"
    first, second, third = cond.operands
    assert isinstance(first, BoolOp) and first.op == "OR"
    assert isinstance(second, Not) and isinstance(second.operand, Compare)
    assert isinstance(third, InList) and third.negated and [v.value for v in third.values] == ["x", "y"]


def test_like_pattern_treats_escaped_wildcards_as_literals() -> None:
    cond = parse(format_soql("SELECT Id FROM Account WHERE Name LIKE '{:like}%'", "50%_off")).where
    assert isinstance(cond, Like) and cond.pattern.like is not None
    assert cond.pattern.like.fullmatch("50%_OFF sale")
    assert not cond.pattern.like.fullmatch("50X_off sale")
    assert not cond.pattern.like.fullmatch("50%Xoff")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_string_quoted_by_format_soql_reads_back_unchanged(value: str) -> None:
    cond = parse(format_soql("SELECT Id FROM Account WHERE Name = {}", value)).where
    assert isinstance(cond, Compare) and cond.value.value == value


@given(st.lists(st.text(alphabet="ab'\\\n%_", max_size=5), min_size=1, max_size=5))
def test_in_lists_from_format_soql_keep_every_member(values: list[str]) -> None:
    cond = parse(format_soql("SELECT Id FROM Account WHERE Name IN {}", values)).where
    assert isinstance(cond, InList) and [v.value for v in cond.values] == values


def test_tokens_carry_offsets() -> None:
    tokens = tokenize("SELECT Id FROM X")
    assert [(t.kind, t.pos) for t in tokens] == [
        (Kind.IDENT, 0),
        (Kind.IDENT, 7),
        (Kind.IDENT, 10),
        (Kind.IDENT, 15),
        (Kind.EOF, 16),
    ]


@pytest.mark.parametrize(
    ("soql", "message", "column"),
    [
        ("SELECT Id FRM Account", "unexpected token: 'FRM'", 11),
        ("SELECT FROM Account", "unexpected token: 'FROM'", 8),
        ("SELECT Id FROM Account WHERE", "unexpected token: '<EOF>'", 29),
        ("SELECT Id FROM Account WHERE a = 1 AND b = 2 OR c = 3", "unexpected token: 'OR'", 46),
        ("SELECT Id FROM Account WHERE Name = 'open", "mismatched character '<EOF>'", 37),
        ("SELECT Id FROM Account WHERE Name = 'a\\qb'", "Illegal character sequence '\\q'", 39),
        ("SELECT Id FROM Account LIMIT -1", "unexpected token: '-1'", 30),
        ("SELECT Id FROM Account WHERE Name LIKE 5", "unexpected token: '5'", 40),
        ("SELECT Id FROM Account WHERE Name # 'x'", "unexpected token: '#'", 35),
        ("SELECT Id, (SELECT Id FROM Tasks) FROM Account", "subqueries", 12),
        ("SELECT Id FROM Account extra", "unexpected token: 'extra'", 24),
    ],
)
def test_malformed_queries_point_at_the_problem(soql: str, message: str, column: int) -> None:
    with pytest.raises(SoqlError) as caught:
        parse(soql)
    err = caught.value
    assert err.code == "MALFORMED_QUERY"
    assert message in err.message
    rendered = err.render(soql)
    assert f"ERROR at Row:1:Column:{column}" in rendered
    assert rendered.splitlines()[2] == " " * (column - 1) + "^"
