"""Salesforce record ids: key prefixes, 15- and 18-character forms, deterministic minting."""

from __future__ import annotations

import itertools
import re
import threading

_ALNUM = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def checksum_suffix(id15: str) -> str:
    """The 3 characters Salesforce appends so an id survives case-insensitive systems."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when it is not shaped like one."""
    if not _ALNUM.match(value):
        return None
    id15 = value[:15]
    return id15 + checksum_suffix(id15)


def _base62(n: int, width: int) -> str:
    digits = []
    while n:
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    return "".join(reversed(digits)).rjust(width, "0")


class IdMinter:
    """Mints ids in sequence so a seeded org produces the same ids on every run."""

    def __init__(self, pod: str = "5g") -> None:
        self._pod = pod
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def mint(self, prefix: str) -> str:
        with self._lock:
            n = next(self._counter)
        id15 = f"{prefix}{self._pod}0{_base62(n, 9)}"
        return id15 + checksum_suffix(id15)
