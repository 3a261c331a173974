"""CSV files dropped in a folder (`kind = "csv_folder"`): columns mapped in config, each version read once."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from connectors.base import (
    ALL_STORES,
    Checkpoint,
    Fact,
    Item,
    Record,
    Rejected,
    SourceError,
    StoreRef,
    register,
)
from connectors.source import BaseConnector, BaseSource, Options
from connectors.values import Invalid, ident, number, parse_day, parse_time, text


class CsvFact(BaseModel):
    """metric ← column (wide files: one column per metric)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    metric: str
    column: str
    dimension: str = ""


class CsvOptions(Options):
    folder: str
    pattern: str = "*.csv"
    stream: str = "daily"
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    store_column: str = "store_id"
    day_column: str = "date"
    facts: tuple[CsvFact, ...] = ()  # wide files
    metric_column: str = ""  # long files: one row per (store, day, metric, dimension)
    dimension_column: str = ""
    value_column: str = ""
    attrs: tuple[str, ...] = ()  # columns kept on the record (from the first row of the store's day)

    @model_validator(mode="after")
    def _one_layout(self) -> CsvOptions:
        long = bool(self.metric_column and self.value_column)
        if bool(self.facts) == long:
            raise ValueError(
                "declare either facts (wide: metric ← column) or metric_column + value_column (long)"
            )
        return self


def parse_rows(
    rows: Sequence[Mapping[str, Any]], options: CsvOptions, file_name: str
) -> list[Record | Rejected]:
    """A file's rows → one record per (store, day) summing its facts; a bad row is quarantined alone."""
    groups: dict[tuple[str, date], tuple[dict[tuple[str, str], float], dict[str, Any]]] = {}
    out: list[Record | Rejected] = []
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        try:
            store_id = ident(row.get(options.store_column), what=options.store_column)
            day = parse_day(row.get(options.day_column), what=options.day_column)
            facts: list[tuple[str, str, float]] = []
            if options.facts:
                for spec in options.facts:
                    cell = row.get(spec.column)
                    if cell in (None, ""):
                        continue
                    facts.append((spec.metric, spec.dimension, number(cell, what=spec.column)))
            else:
                metric = text(
                    row.get(options.metric_column), what=options.metric_column, default=None
                ).strip()
                if not metric:
                    raise Invalid(f"{options.metric_column}: required")
                dim = (
                    text(row.get(options.dimension_column), what=options.dimension_column)
                    if options.dimension_column
                    else ""
                )
                facts.append(
                    (metric, dim.strip(), number(row.get(options.value_column), what=options.value_column))
                )
        except Invalid as exc:
            out.append(
                Rejected(
                    options.stream,
                    str(row.get(options.store_column) or ""),
                    dict(row),
                    f"{file_name} line {n}: {exc}",
                )
            )
            continue
        totals, attrs = groups.setdefault((store_id, day), ({}, {}))
        for metric, dim, value in facts:
            totals[(metric, dim)] = totals.get((metric, dim), 0.0) + value
        if not attrs:
            attrs.update({name: row.get(name) for name in options.attrs})
            attrs["file"] = file_name
    for (store_id, day), (totals, attrs) in sorted(groups.items()):
        facts_out = tuple(Fact(m, v, d) for (m, d), v in totals.items())
        out.append(
            Record(
                options.stream,
                f"{store_id}:{day.isoformat()}",
                store_id,
                parse_time(day),
                "",
                facts_out,
                attrs,
            )
        )
    return out


def read_ledger(cursor: str | None) -> dict[str, float]:
    """The cursor is a ledger of files read: name → modification time."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    return (
        {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}
        if isinstance(data, dict)
        else {}
    )


class CsvConnector(BaseConnector):
    def __init__(self, source: CsvFolderSource, store: StoreRef) -> None:
        super().__init__(store)
        self.source = source
        self.options = source.csv_options
        self.streams = (self.options.stream,)

    def iter_records(self, stream: str, since: str | None) -> Iterator[Item]:
        if stream != self.options.stream:
            raise SourceError(f"unknown stream {stream!r}; streams: {self.options.stream}")
        folder = Path(self.options.folder)
        if not folder.is_dir():
            raise SourceError(f"{self.source.name}: folder {folder} does not exist")
        ledger = read_ledger(since)
        files = sorted(p for p in folder.glob(self.options.pattern) if p.is_file())
        present = {p.name for p in files}
        ledger = {k: v for k, v in ledger.items() if k in present}  # forget files that were removed
        for path in files:
            mtime = path.stat().st_mtime
            if ledger.get(path.name) == mtime:
                continue
            try:
                content = path.read_text(encoding=self.options.encoding)
            except (OSError, UnicodeDecodeError) as exc:
                yield Rejected(stream, "", {"file": path.name}, f"{path.name}: unreadable: {exc}")
            else:
                reader = csv.DictReader(io.StringIO(content), delimiter=self.options.delimiter)
                try:
                    rows = list(reader)
                except csv.Error as exc:
                    yield Rejected(stream, "", {"file": path.name}, f"{path.name}: not valid CSV: {exc}")
                    rows = None
                if rows is not None:
                    yield from parse_rows(rows, self.options, path.name)
            ledger[path.name] = mtime
            yield Checkpoint(stream, json.dumps(ledger, sort_keys=True))


@register("csv_folder")
class CsvFolderSource(BaseSource):
    """Files carry their own store ids; the pull job quarantines rows of stores not in the directory."""

    kind = "csv_folder"
    options_model = CsvOptions

    @property
    def csv_options(self) -> CsvOptions:
        assert isinstance(self.options, CsvOptions)
        return self.options

    def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]:
        return [StoreRef(ALL_STORES, name=f"files in {self.csv_options.folder}")]

    def connector(self, store: StoreRef) -> CsvConnector:
        return CsvConnector(self, store)
