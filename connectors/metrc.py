"""Metrc (`kind = "metrc"`): sales receipts per license in ≤24 h last-modified windows (a cross-check)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta, tzinfo
from typing import Annotated, Any

from pydantic import Field

from connectors.base import Checkpoint, Fact, Item, Record, SourceError, StoreRef, register
from connectors.http import Basic, HttpClient
from connectors.source import BaseConnector, HttpSource, Options, parse_safely
from connectors.values import flag, ident, iso_utc, mapping, number, optional_number, parse_time, text


class MetrcOptions(Options):
    license_attr: str = "license_number"  # the store attr holding the Metrc license
    window_hours: Annotated[int, Field(ge=1, le=24)] = 24  # Metrc answers 400 to longer windows


def parse_receipt(raw: Any, store: StoreRef, tz: tzinfo) -> Record:
    """A receipt; Metrc writes sale times in the facility's local time without an offset."""
    item = mapping(raw, what="receipt")
    rid = ident(item.get("Id"), what="Id")
    when = parse_time(item.get("SalesDateTime"), tz, what="SalesDateTime")
    modified = parse_time(item.get("LastModified"), tz, what="LastModified")
    total = number(item.get("TotalPrice"), what="TotalPrice")
    attrs = {
        "receipt_number": text(item.get("ReceiptNumber"), what="ReceiptNumber"),
        "customer_type": text(item.get("SalesCustomerType"), what="SalesCustomerType"),
        "packages": optional_number(item.get("TotalPackages"), what="TotalPackages"),
        "total": total,
        "is_final": flag(item.get("IsFinal"), what="IsFinal", default=False),
    }
    facts = (Fact("metrc_receipts", 1.0), Fact("metrc_sales", total))
    return Record(
        "receipts", f"{store.store_id}:{rid}", store.store_id, when, iso_utc(modified), facts, attrs
    )


class MetrcConnector(BaseConnector):
    streams = ("receipts",)

    def __init__(self, source: MetrcSource, store: StoreRef, client: HttpClient, license_number: str) -> None:
        super().__init__(store)
        self.source = source
        self.client = client
        self.license_number = license_number

    def stream_receipts(self, since: str | None) -> Iterator[Item]:
        now = self.source.runtime.now()
        start = self.source.start(since)
        window = timedelta(hours=self.source.metrc_options.window_hours)
        while start < now:
            end = min(start + window, now)
            params = {
                "licenseNumber": self.license_number,
                "lastModifiedStart": iso_utc(start),
                "lastModifiedEnd": iso_utc(end),
            }
            body, _ = self.client.get_json("/sales/v1/receipts/active", params)
            parsed = [
                parse_safely("receipts", self.store.store_id, raw, parse_receipt, self.store, self.tz)
                for raw in self.client.items(body, "", "/sales/v1/receipts/active")
            ]
            parsed.sort(key=lambda r: r.cursor if isinstance(r, Record) else "")
            yield from parsed
            yield Checkpoint("receipts", iso_utc(end))
            start = end


@register("metrc")
class MetrcSource(HttpSource):
    """Basic auth: username = the vendor (integrator) key, password = the user key (per store if needed)."""

    kind = "metrc"
    options_model = MetrcOptions

    @property
    def metrc_options(self) -> MetrcOptions:
        assert isinstance(self.options, MetrcOptions)
        return self.options

    def serves(self, store: StoreRef) -> bool:
        return bool(store.attrs.get(self.metrc_options.license_attr))

    def connector(self, store: StoreRef) -> MetrcConnector:
        auth_cfg = self.cfg.auth
        if auth_cfg.kind != "basic":
            raise SourceError(f"{self.name}: auth.kind must be 'basic' for metrc (got {auth_cfg.kind!r})")
        env = self.runtime.env
        auth = Basic(
            auth_cfg.secret("username", store.store_id, env), auth_cfg.secret("password", store.store_id, env)
        )
        license_number = str(store.attrs.get(self.metrc_options.license_attr, ""))
        return MetrcConnector(self, store, self.http.client(auth), license_number)
