"""Any SQL database (`kind = "sql"`): a `:since` query returning store_id, day, metric, dimension, value."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any, Literal

from pydantic import model_validator
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from connectors.base import ALL_STORES, Fact, Item, Record, Rejected, Runtime, SourceError, StoreRef, register
from connectors.config import SourceConfig, resolve_secret
from connectors.source import BaseConnector, BaseSource, Options
from connectors.values import Invalid, ident, iso_utc, number, parse_day, parse_time
from connectors.values import text as text_value

COLUMNS = ("store_id", "day", "metric", "dimension", "value")


class SqlOptions(Options):
    url: str = ""  # a URL without a password; one with credentials goes in url_env / url_file
    url_env: str = ""
    url_file: str = ""
    query: str
    stream: str = "daily"
    since_type: Literal["date", "datetime"] = "date"

    @model_validator(mode="after")
    def _check(self) -> SqlOptions:
        if ":since" not in self.query:
            raise ValueError("query: must use the :since bound parameter (rows for days on or after it)")
        if self.url:
            try:
                parsed = make_url(self.url)
            except ArgumentError as exc:
                raise ValueError(f"url: {exc}") from None
            if parsed.password:
                raise ValueError("url: holds a password; put the URL in url_env or url_file instead")
        elif not (self.url_env or self.url_file):
            raise ValueError("url: set url, url_env or url_file")
        return self


def parse_rows(rows: Sequence[Mapping[str, Any]], stream: str) -> list[Record | Rejected]:
    """Rows → one record per (store, day) with its facts summed; the query must return whole days."""
    groups: dict[tuple[str, date], dict[tuple[str, str], float]] = {}
    out: list[Record | Rejected] = []
    for row in rows:
        try:
            store_id = ident(row.get("store_id"), what="store_id")
            day = parse_day(row.get("day"), what="day")
            metric = text_value(row.get("metric"), what="metric", default=None).strip()
            if not metric:
                raise Invalid("metric: required")
            dim = text_value(row.get("dimension"), what="dimension").strip()
            value = number(row.get("value"), what="value", minimum=None)
        except Invalid as exc:
            out.append(Rejected(stream, str(row.get("store_id") or ""), dict(row), str(exc)))
            continue
        totals = groups.setdefault((store_id, day), {})
        totals[(metric, dim)] = totals.get((metric, dim), 0.0) + value
    for (store_id, day), totals in sorted(groups.items()):
        moment = parse_time(day)
        facts = tuple(Fact(m, v, d) for (m, d), v in totals.items())
        cursor = iso_utc(moment.replace(hour=0))
        out.append(Record(stream, f"{store_id}:{day.isoformat()}", store_id, moment, cursor, facts, {}))
    return out


class SqlConnector(BaseConnector):
    def __init__(self, source: SqlSource, store: StoreRef) -> None:
        super().__init__(store)
        self.source = source
        self.streams = (source.sql_options.stream,)

    def iter_records(self, stream: str, since: str | None) -> Iterator[Item]:
        options = self.source.sql_options
        if stream != options.stream:
            raise SourceError(f"unknown stream {stream!r}; streams: {options.stream}")
        start = self.source.start(since)
        bound: Any = start.date().isoformat() if options.since_type == "date" else start
        try:
            with self.source.engine().connect() as conn:
                result = conn.execute(text(options.query), {"since": bound})
                missing = [c for c in COLUMNS if c not in result.keys()]  # noqa: SIM118 (a Result is no dict)
                if missing:
                    raise SourceError(
                        f"{self.source.name}: the query must return {', '.join(COLUMNS)}; "
                        f"missing {', '.join(missing)}"
                    )
                rows = [dict(r._mapping) for r in result]
        except SQLAlchemyError as exc:
            raise SourceError(f"{self.source.name}: query failed: {type(exc).__name__}: {exc}") from None
        yield from parse_rows(rows, stream)


@register("sql")
class SqlSource(BaseSource):
    kind = "sql"
    options_model = SqlOptions

    def __init__(self, cfg: SourceConfig, runtime: Runtime | None = None) -> None:
        super().__init__(cfg, runtime)
        self._engine: Engine | None = None

    @property
    def sql_options(self) -> SqlOptions:
        assert isinstance(self.options, SqlOptions)
        return self.options

    def engine(self) -> Engine:
        if self._engine is None:
            options = self.sql_options
            url = options.url or resolve_secret(
                options.url_env, options.url_file, self.runtime.env, name="options.url"
            )
            self._engine = create_engine(url, pool_pre_ping=True)
        return self._engine

    def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]:
        return [StoreRef(ALL_STORES, name="rows of the query")]

    def connector(self, store: StoreRef) -> SqlConnector:
        return SqlConnector(self, store)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
