"""Whole-portfolio reads of Salesforce shared by every shard and job a process runs, while still true.

Below about 6,000 stores each shard of each sync job read every Account: 4 shards x 9 jobs made 37
reads of the same 1,097 Accounts a cycle at 1,000 stores. A process keeps one `PortfolioReads`; a
read of a whole object (`sobject` + `where`) is kept and served again until

- a write to that object could have changed it: the outbox, which every replica shares, shows a row
  of the object handed to Salesforce or settled since the read (`state.outbox.written_mark`); so a
  job reading Health_Score__c or Open_Risk_Count__c after the job that writes it reads them afresh;
- it is `max_age` old by the job's clock: an admin's edit in Salesforce is seen after that at most.

It reads every field any caller asked of the object so far, so the next job asking for fewer or the
same fields is served from it. Callers get copies of the records: nothing they change leaks back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from connectors.salesforce.soql import select, select_in
from state import outbox
from state.engine import Engine

if TYPE_CHECKING:  # jobs.current reads through KeptReader
    from jobs.current import Reader

Mark = Callable[[str], Hashable]  # sobject -> what changes whenever a write to it may have landed


@dataclass
class _Read:
    fields: frozenset[str]
    records: list[dict[str, Any]]
    mark: Hashable
    at: datetime


class PortfolioReads:
    """Reads of whole objects, kept per (sobject, where) until a write or `max_age` makes them stale."""

    def __init__(self, mark: Mark, max_age: timedelta) -> None:
        self._mark = mark
        self.max_age = max_age
        self._reads: dict[tuple[str, str], _Read] = {}
        self._asked: dict[tuple[str, str], frozenset[str]] = {}
        self._lock = threading.Lock()  # shards side by side wait for one read rather than each making it
        self.served = 0  # reads answered without a call (for logs and tests)

    @classmethod
    def of(cls, engine: Engine, max_age: timedelta) -> PortfolioReads:
        """Kept reads invalidated by the outbox of `engine`: every replica's writes count."""
        return cls(lambda sobject: outbox.written_mark(engine, sobject), max_age)

    def query(
        self,
        reader: Reader,
        sobject: str,
        fields: Iterable[str],
        where: str,
        now: datetime,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        **values: Any,
    ) -> list[dict[str, Any]]:
        """`SELECT fields FROM sobject WHERE where` (format_soql placeholders for `values`), kept or
        read anew; with `keep`, only the records it accepts are copied out (a shard's few of many)."""
        key = (sobject, select(sobject, ["Id"], where, **values))
        wanted = frozenset(fields)
        with self._lock:
            if self.max_age <= timedelta(0):
                return _copies(reader.query(select(sobject, wanted, where, **values)), keep)
            mark = self._mark(sobject)
            kept = self._reads.get(key)
            if (
                kept is not None
                and wanted <= kept.fields
                and kept.mark == mark
                and timedelta(0) <= now - kept.at < self.max_age
            ):
                self.served += 1
                return _copies(kept.records, keep)
            self._release(now)
            every = self._asked.get(key, frozenset()) | wanted
            self._asked[key] = every
            self._reads.pop(key, None)  # the stale read is not held while the new one comes in
            records = list(reader.query(select(sobject, every, where, **values)))
            self._reads[key] = _Read(every, records, mark, now)
            return _copies(records, keep)

    @property
    def held(self) -> int:
        """Reads kept now (for tests and logs)."""
        return len(self._reads)

    def _release(self, now: datetime) -> None:
        """Drop the reads too old to serve: conditions that name a day (today's snapshots, a day-bounded
        activity window) are asked afresh each day, and the old ones must not pile up in a process
        that runs for weeks."""
        for key in [k for k, r in self._reads.items() if not timedelta(0) <= now - r.at < self.max_age]:
            del self._reads[key]
            self._asked.pop(key, None)


def _copies(
    records: Iterable[dict[str, Any]], keep: Callable[[dict[str, Any]], bool] | None
) -> list[dict[str, Any]]:
    return [dict(r) for r in records if keep is None or keep(r)]


class KeptReader:
    """A job's Reader whose whole-object reads (`rows`, `rows_in`, `read_accounts` of every store) come
    from the process's kept reads; any other query goes to Salesforce as it is."""

    def __init__(self, reader: Reader, reads: PortfolioReads, now: datetime) -> None:
        self.reader, self.reads, self.now = reader, reads, now

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        return self.reader.query(soql)

    def rows(
        self,
        sobject: str,
        fields: Iterable[str],
        where: str,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        **values: Any,
    ) -> list[dict[str, Any]]:
        return self.reads.query(self.reader, sobject, fields, where, self.now, keep, **values)


def rows(
    reader: Reader, sobject: str, fields: Iterable[str], where: str, **values: Any
) -> Iterator[dict[str, Any]]:
    """`SELECT fields FROM sobject WHERE where`: the kept read when `reader` is a KeptReader."""
    if isinstance(reader, KeptReader):
        yield from reader.rows(sobject, fields, where, **values)
    else:
        yield from reader.query(select(sobject, fields, where, **values))


def rows_in(
    reader: Reader,
    sobject: str,
    fields: Iterable[str],
    key_field: str,
    keys: Sequence[str],
    where: str = "",
    **values: Any,
) -> Iterator[dict[str, Any]]:
    """The records whose `key_field` is among `keys` (e.g. a shard's Account Ids), and `where`: taken
    from the kept read of every such record when `reader` is a KeptReader, else IN_CHUNK keys a query."""
    if isinstance(reader, KeptReader):
        wanted = set(keys)

        def keep(record: dict[str, Any]) -> bool:
            return str(record.get(key_field)) in wanted

        yield from reader.rows(sobject, [*fields, key_field], where, keep, **values)
        return
    for soql in select_in(sobject, fields, key_field, keys, where, **values):
        yield from reader.query(soql)


def rows_by_value(
    reader: KeptReader,
    sobject: str,
    fields: Iterable[str],
    field: str,
    values: Iterable[Any],
    key_field: str,
    keys: Iterable[str],
) -> list[dict[str, Any]]:
    """The records whose `key_field` is among `keys`, from the one kept read of every record whose
    `field` is among `values` (a day's snapshots, a quarter's reviews): every shard, and every job
    asking the same values, is served from it."""
    wanted = set(keys)

    def keep(record: dict[str, Any]) -> bool:
        return str(record.get(key_field)) in wanted

    asked = [*fields, key_field, field]
    return reader.rows(sobject, asked, f"{field} IN {{values}}", keep, values=sorted(set(values), key=str))


def keyed_open(
    reader: Reader,
    sobject: str,
    fields: Iterable[str],
    open_where: str,
    key_field: str,
    prefix: str,
    parent_field: str = "",
    parents: Sequence[str] | None = None,
    **values: Any,
) -> Iterator[dict[str, Any]]:
    """Open records (`open_where`) whose `key_field` starts with `prefix`, of the `parents` (Account Ids)
    when given.

    Through a KeptReader one kept read of every keyed open record of the object serves every job,
    whatever its prefix: jobs share Task and Risk_Flag__c, and a read per job's prefix was two
    calls per job a cycle. Otherwise the prefix and the parents go into the query.
    """
    if isinstance(reader, KeptReader):
        scope = set(parents) if parents is not None else None

        def keep(record: dict[str, Any]) -> bool:
            mine = str(record.get(key_field) or "").startswith(prefix)
            return mine and (scope is None or str(record.get(parent_field)) in scope)

        asked = [*fields, key_field, *([parent_field] if parent_field else [])]
        yield from reader.rows(sobject, asked, f"{open_where} AND {key_field} != null", keep, **values)
        return
    where = f"{open_where} AND {key_field} LIKE '{{prefix:like}}%'"
    if parents is not None:
        yield from rows_in(reader, sobject, fields, parent_field, parents, where, prefix=prefix, **values)
    else:
        yield from reader.query(select(sobject, fields, where, prefix=prefix, **values))
