"""The org's per-object tally of records read and written, behind the benchmark's minimum-calls figure."""

from __future__ import annotations

from collections.abc import Callable

import requests

from sandbox.salesforce import Org

from .conftest import API


def test_query_pages_count_the_records_they_return_by_object(
    http: requests.Session, org: Org, account: Callable[..., str]
) -> None:
    org.page_size = 2
    for _ in range(3):
        account()
    first = http.get(f"{API}/query", params={"q": "SELECT Id FROM Account"}).json()
    http.get(f"{API}/query/{first['nextRecordsUrl'].rsplit('/', 1)[1]}")
    http.get(f"{API}/query", params={"q": "SELECT Id FROM Task"})
    assert org.stats.volume()["read"] == {"Account": 3}
    assert org.stats.snapshot()["query_more"] == 1


def test_collections_and_bulk_uploads_count_records_written_and_failures_count_nothing(
    http: requests.Session, org: Org
) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Store_Id__c": f"NV-{i}", "Name": f"S{i}"} for i in range(3)
    ]
    assert http.patch(f"{API}/composite/sobjects/Account/Store_Id__c", json={"records": records}).ok
    http.post(
        f"{API}/composite/sobjects", json={"records": [{"attributes": {"type": "Task"}, "Subject": "x"}]}
    )
    job = http.post(f"{API}/jobs/ingest", json={"object": "Case", "operation": "insert"}).json()["id"]
    csv_text = 'Subject,Description\nA,"two\nlines"\nB,plain\n'
    http.put(f"{API}/jobs/ingest/{job}/batches", data=csv_text.encode(), headers={"Content-Type": "text/csv"})
    http.patch(f"{API}/composite/sobjects/Nope__c/Store_Id__c", json={"records": records})  # 404: not counted
    assert org.stats.volume()["written"] == {"Account": 3, "Case": 2, "Task": 1}


def test_describes_are_tallied_once_per_object_and_reset_clears_the_tally(
    http: requests.Session, org: Org
) -> None:
    for name in ("Account", "Task", "Account"):
        assert http.get(f"{API}/sobjects/{name}/describe").ok
    assert org.stats.volume()["described"] == ["Account", "Task"]
    assert org.stats.snapshot()["describe"] == 3
    org.stats.reset()
    assert org.stats.volume() == {"read": {}, "written": {}, "described": []}
