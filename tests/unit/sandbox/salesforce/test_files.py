"""Files in the sandbox org: ContentVersion upload (multipart and base64), versions, links, download."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import requests
from urllib3.filepost import encode_multipart_formdata

from sandbox.salesforce import Org

from .conftest import API

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def multipart(http: requests.Session, fields: dict[str, object], data: bytes) -> requests.Response:
    body, content_type = encode_multipart_formdata(
        {
            "entity_content": ("", json.dumps(fields), "application/json"),
            "VersionData": (str(fields.get("PathOnClient", "file")), data, "application/pdf"),
        }
    )
    return http.post(f"{API}/sobjects/ContentVersion", data=body, headers={"Content-Type": content_type})


def test_a_multipart_upload_creates_the_document_and_links_it(
    http: requests.Session, org: Org, account: Callable[..., str]
) -> None:
    acct = account()
    resp = multipart(
        http, {"Title": "QBR pack", "PathOnClient": "pack.pdf", "FirstPublishLocationId": acct}, PDF
    )
    assert resp.status_code == 201, resp.text
    version_id = resp.json()["id"]
    assert version_id.startswith("068")
    (cv,) = org.query(
        "SELECT Id, ContentDocumentId, VersionNumber, IsLatest, ContentSize, FileType, Title FROM ContentVersion"
    )
    assert (cv["VersionNumber"], cv["IsLatest"], cv["ContentSize"], cv["FileType"]) == (
        "1",
        True,
        len(PDF),
        "PDF",
    )
    links = org.query(
        f"SELECT LinkedEntityId, ShareType FROM ContentDocumentLink WHERE LinkedEntityId = '{acct}'"
    )
    assert len(links) == 1 and links[0]["ShareType"] == "V"
    (doc,) = org.query("SELECT Id, LatestPublishedVersionId, Title FROM ContentDocument")
    assert (doc["Id"], doc["LatestPublishedVersionId"]) == (cv["ContentDocumentId"], version_id)
    got = http.get(f"{API}/sobjects/ContentVersion/{version_id}/VersionData")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["Content-Type"].startswith("application/octet-stream")


def test_a_base64_upload_with_the_document_adds_a_version(
    http: requests.Session, org: Org, account: Callable[..., str]
) -> None:
    acct = account()
    first = multipart(
        http, {"Title": "QBR", "PathOnClient": "a.pdf", "FirstPublishLocationId": acct}, PDF
    ).json()
    (doc_id,) = [r["ContentDocumentId"] for r in org.query("SELECT ContentDocumentId FROM ContentVersion")]
    second = http.post(
        f"{API}/sobjects/ContentVersion",
        json={
            "Title": "QBR v2",
            "PathOnClient": "a.pdf",
            "ContentDocumentId": doc_id,
            "ReasonForChange": "figures changed",
            "VersionData": base64.b64encode(PDF + b"2").decode(),
        },
    )
    assert second.status_code == 201, second.text
    rows = {
        r["Id"]: r
        for r in org.query("SELECT Id, VersionNumber, IsLatest, ContentDocumentId FROM ContentVersion")
    }
    assert rows[first["id"]]["IsLatest"] is False and rows[first["id"]]["VersionNumber"] == "1"
    new = rows[second.json()["id"]]
    assert (new["IsLatest"], new["VersionNumber"], new["ContentDocumentId"]) == (True, "2", doc_id)
    (doc,) = org.query("SELECT LatestPublishedVersionId, Title FROM ContentDocument")
    assert (doc["LatestPublishedVersionId"], doc["Title"]) == (second.json()["id"], "QBR v2")
    assert len(org.query("SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId = '" + acct + "'")) == 1
    data = http.get(f"{API}/sobjects/ContentVersion/{second.json()['id']}/VersionData").content
    assert data == PDF + b"2"


def test_bad_uploads_are_refused_and_leave_nothing(http: requests.Session, org: Org) -> None:
    no_data = http.post(f"{API}/sobjects/ContentVersion", json={"Title": "x", "PathOnClient": "x.pdf"})
    assert no_data.status_code == 400 and no_data.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    bad64 = http.post(
        f"{API}/sobjects/ContentVersion", json={"Title": "x", "PathOnClient": "x.pdf", "VersionData": "@@not"}
    )
    assert bad64.status_code == 400 and bad64.json()[0]["errorCode"] == "INVALID_FIELD"
    bad_doc = http.post(
        f"{API}/sobjects/ContentVersion",
        json={
            "Title": "x",
            "PathOnClient": "x.pdf",
            "ContentDocumentId": "069000000000001AAA",
            "VersionData": base64.b64encode(PDF).decode(),
        },
    )
    assert bad_doc.status_code == 400
    assert (
        org.query("SELECT Id FROM ContentVersion") == [] and org.query("SELECT Id FROM ContentDocument") == []
    )
    assert http.get(f"{API}/sobjects/ContentVersion/068000000000001AAA/VersionData").status_code == 404
