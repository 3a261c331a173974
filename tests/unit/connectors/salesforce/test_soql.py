"""SOQL is built only from validated identifiers and escaped values."""

from __future__ import annotations

import pytest

from connectors.salesforce.soql import IN_CHUNK, ident, select, select_in


def test_values_are_escaped() -> None:
    soql = select("Account", ["Id", "Name"], "Store_Id__c = {s}", s="NV-1' OR Name != '")
    assert soql == "SELECT Id, Name FROM Account WHERE Store_Id__c = 'NV-1\\' OR Name != \\''"


@pytest.mark.parametrize("bad", ["Id, (SELECT Id FROM Contacts)", "Name FROM User --", "", "1abc", "a b"])
def test_identifiers_are_validated(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Salesforce identifier"):
        ident(bad)


def test_parent_fields_are_identifiers() -> None:
    assert ident("Account__r.Store_Id__c") == "Account__r.Store_Id__c"


def test_in_lists_are_chunked() -> None:
    keys = [f"k{i}" for i in range(IN_CHUNK * 2 + 1)]
    queries = list(select_in("Task", ["Id"], "Sync_Key__c", keys))
    assert len(queries) == 3
    assert "'k0'" in queries[0] and f"'k{IN_CHUNK}'" in queries[1] and f"'k{IN_CHUNK * 2}'" in queries[2]
