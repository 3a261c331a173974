"""SOQL built only from validated identifiers and escaped values (simple-salesforce's format_soql)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from simple_salesforce.format import format_soql

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
IN_CHUNK = 200  # values per IN list: keeps the GET URL well under Salesforce's limits


def ident(name: str) -> str:
    """An object or field name, refused unless it is a plain (dotted) identifier: no injection path."""
    if not _IDENT.match(name):
        raise ValueError(f"not a Salesforce identifier: {name!r}")
    return name


def select(sobject: str, fields: Iterable[str], where: str = "", **values: Any) -> str:
    """`SELECT fields FROM sobject [WHERE where]`; `where` uses format_soql placeholders for `values`."""
    cols = ", ".join(ident(f) for f in sorted(set(fields)))
    soql = f"SELECT {cols} FROM {ident(sobject)}"  # noqa: S608 - identifiers validated above
    if where:
        soql += " WHERE " + format_soql(where, **values)
    return soql


def select_in(
    sobject: str, fields: Iterable[str], key_field: str, keys: Sequence[str], where: str = "", **values: Any
) -> Iterator[str]:
    """Queries reading the records whose `key_field` is among `keys`, IN_CHUNK keys per query."""
    fields = list(fields)
    cond = f"{ident(key_field)} IN {{keys}}" + (f" AND ({where})" if where else "")
    for i in range(0, len(keys), IN_CHUNK):
        yield select(sobject, fields, cond, keys=list(keys[i : i + IN_CHUNK]), **values)
