"""The secrets each source sandbox accepts, derived from the seed so a demo config can be written."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.portfolio.model import Store


def _secret(seed: int, *parts: object, size: int = 32) -> str:
    return hashlib.sha256("|".join(str(p) for p in (seed, *parts)).encode()).hexdigest()[:size]


@dataclass(frozen=True, slots=True)
class DutchieKey:
    """HTTP Basic: username = the location's API key, password = the integrator key (may be empty)."""

    location_id: int
    location_key: str
    integrator_key: str


@dataclass(frozen=True, slots=True)
class TreezKey:
    """Form fields of the token call; `dispensary` is the path segment of every call."""

    dispensary: str
    client_id: str
    api_key: str


@dataclass(frozen=True)
class SandboxCredentials:
    dutchie: Mapping[str, DutchieKey]  # store id → key, Dutchie stores only
    treez: Mapping[str, TreezKey]  # store id → key, Treez stores only
    flowhub: Mapping[str, str]  # store id → the location's `key` header, Flowhub stores only
    flowhub_client_id: str  # the `clientId` header: the integrator's, one for every location
    blaze: Mapping[str, str]  # store id → the shop's dispensary key (`Authorization`), BLAZE stores only
    blaze_partner_key: str  # the `partner_key` header: the integrator's
    metrc_vendor_key: str
    metrc_user_key: str
    platform_client_id: str
    platform_client_secret: str
    billing_api_key: str
    support_token: str
    nps_api_key: str
    _by_location_key: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _by_dispensary: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _by_flowhub_location: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _by_blaze_key: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_location_key.update({k.location_key: sid for sid, k in self.dutchie.items()})
        self._by_dispensary.update({k.dispensary: sid for sid, k in self.treez.items()})
        self._by_blaze_key.update({k: sid for sid, k in self.blaze.items()})

    @classmethod
    def derive(cls, seed: int, stores: Iterable[Store]) -> SandboxCredentials:
        """Deterministic from the seed: the same portfolio always opens with the same keys."""
        dutchie: dict[str, DutchieKey] = {}
        treez: dict[str, TreezKey] = {}
        flowhub: dict[str, str] = {}
        blaze: dict[str, str] = {}
        locations: dict[str, str] = {}
        integrator = _secret(seed, "dutchie", "integrator")
        for store in stores:
            if store.pos_kind == "flowhub":
                flowhub[store.id] = _secret(seed, "flowhub", store.id)
                locations[str(store.pos_location_id)] = store.id
            elif store.pos_kind == "blaze":
                blaze[store.id] = _secret(seed, "blaze", store.id)
            elif store.pos_kind == "dutchie_pos":
                dutchie[store.id] = DutchieKey(
                    int(store.pos_location_id), _secret(seed, "dutchie", store.id), integrator
                )
            else:
                treez[store.id] = TreezKey(
                    str(store.pos_location_id),
                    f"csm-sync-{_secret(seed, 'treez-client', store.id, size=8)}",
                    _secret(seed, "treez", store.id),
                )
        made = cls(
            dutchie=dutchie,
            treez=treez,
            flowhub=flowhub,
            flowhub_client_id=f"csm-sync-{_secret(seed, 'flowhub', 'client', size=8)}",
            blaze=blaze,
            blaze_partner_key=_secret(seed, "blaze", "partner"),
            metrc_vendor_key=_secret(seed, "metrc", "vendor"),
            metrc_user_key=_secret(seed, "metrc", "user"),
            platform_client_id=f"csm-sync-{_secret(seed, 'platform', 'id', size=12)}",
            platform_client_secret=_secret(seed, "platform", "secret", size=40),
            billing_api_key=f"bk_{_secret(seed, 'billing')}",
            support_token=f"st_{_secret(seed, 'support')}",
            nps_api_key=_secret(seed, "nps", size=24),
        )
        made._by_flowhub_location.update(locations)
        return made

    def store_for_location_key(self, key: str) -> str | None:
        return self._by_location_key.get(key)

    def store_for_dispensary(self, dispensary: str) -> str | None:
        return self._by_dispensary.get(dispensary)

    def store_for_flowhub_location(self, location: str) -> str | None:
        return self._by_flowhub_location.get(location)

    def store_for_blaze_key(self, key: str) -> str | None:
        return self._by_blaze_key.get(key) if key else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form, for writing the demo's secrets and config."""
        return {
            "dutchie": {
                sid: {
                    "location_id": k.location_id,
                    "location_key": k.location_key,
                    "integrator_key": k.integrator_key,
                }
                for sid, k in self.dutchie.items()
            },
            "treez": {
                sid: {"dispensary": k.dispensary, "client_id": k.client_id, "api_key": k.api_key}
                for sid, k in self.treez.items()
            },
            "flowhub": {"client_id": self.flowhub_client_id, "keys": dict(self.flowhub)},
            "blaze": {"partner_key": self.blaze_partner_key, "keys": dict(self.blaze)},
            "metrc": {"vendor_key": self.metrc_vendor_key, "user_key": self.metrc_user_key},
            "platform": {"client_id": self.platform_client_id, "client_secret": self.platform_client_secret},
            "billing": {"api_key": self.billing_api_key},
            "support": {"token": self.support_token},
            "nps": {"api_key": self.nps_api_key},
        }
