"""Files: ContentVersion upload (multipart or base64 `VersionData`) and download, as Salesforce does them.

An upload without `ContentDocumentId` creates the ContentDocument and links it to
`FirstPublishLocationId` (and to its owner); with one, it adds the next version and makes it the
latest. The bytes are kept beside the record; `VersionData` reads back as the URL they are served at.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from sandbox.salesforce.errors import ApiError, RecordError
from sandbox.salesforce.store import Store

MAX_UPLOAD_BYTES = 37_000_000  # the REST API's limit on a multipart upload (base64 JSON: about 50 MB)
_TYPES = {"pdf": "PDF", "png": "PNG", "jpg": "JPG", "jpeg": "JPG", "csv": "CSV", "txt": "TEXT"}


def parse_upload(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes | None]:
    """(the ContentVersion fields, the file's bytes) from a JSON or multipart/form-data request body."""
    if len(body) > MAX_UPLOAD_BYTES * 4 // 3 + 4096:
        raise ApiError(413, "REQUEST_ENTITY_TOO_LARGE", "The request body is too large")
    if content_type.lower().startswith("multipart/"):
        return _multipart(content_type, body)
    try:
        fields = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "JSON_PARSER_ERROR", f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(fields, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    raw = fields.pop("VersionData", None)
    if raw is None:
        return fields, None
    if not isinstance(raw, str):
        raise ApiError(400, "INVALID_FIELD", "VersionData: value not of required type base64")
    try:
        return fields, base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(
            400, "INVALID_FIELD", f"VersionData: value not of required type base64: {exc}"
        ) from exc


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes | None]:
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise ApiError(400, "MULTIPART_ERROR", "The multipart request body could not be read")
    fields: dict[str, Any] | None = None
    data: bytes | None = None
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        if name in ("entity_content", "entity_contentversion"):
            try:
                parsed = json.loads(payload)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ApiError(400, "JSON_PARSER_ERROR", f"entity_content is not valid JSON: {exc}") from exc
            if not isinstance(parsed, dict):
                raise ApiError(400, "JSON_PARSER_ERROR", "entity_content must be a JSON object")
            fields = parsed
        elif name == "VersionData":
            data = payload
    if fields is None:
        raise ApiError(400, "MULTIPART_ERROR", "The multipart request has no entity_content part")
    return fields, data


class Files:
    """The bytes of every ContentVersion, and the records an upload creates beside it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._blobs: dict[str, bytes] = {}

    def upload(self, fields: dict[str, Any], data: bytes | None, version: str) -> str:
        """Create a ContentVersion (and its document and links on a first version); its Id."""
        schema = self._store.schema
        cv, doc_obj, link = (
            schema.get(n) for n in ("ContentVersion", "ContentDocument", "ContentDocumentLink")
        )
        assert cv is not None and doc_obj is not None and link is not None
        if data is None:
            raise RecordError(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [VersionData]", ["VersionData"]
            )
        if len(data) > MAX_UPLOAD_BYTES:
            raise RecordError(
                "STORAGE_LIMIT_EXCEEDED", "The file is larger than the upload limit", ["VersionData"]
            )
        path = str(fields.get("PathOnClient") or "")
        ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
        with self._store.atomic():
            version_id = self._store.create(cv, fields)
            rec = self._record(version_id)
            doc_id = rec.get("ContentDocumentId")
            if doc_id:
                number = 1 + max(
                    int(v.get("VersionNumber") or 0)
                    for v in self._store.rows(cv)
                    if v.get("ContentDocumentId") == doc_id and v["Id"] != version_id
                )
                for v in list(self._store.rows(cv)):
                    if v.get("ContentDocumentId") == doc_id and v.get("IsLatest") and v["Id"] != version_id:
                        self._store.update(cv, v["Id"], {"IsLatest": False}, system=True)
            else:
                number = 1
                doc_id = self._store.create(
                    doc_obj, {"Title": rec["Title"], "OwnerId": rec.get("OwnerId")}, system=True
                )
                parents = [rec.get("FirstPublishLocationId"), rec.get("OwnerId")]
                for i, parent in enumerate(p for p in dict.fromkeys(parents) if p):
                    share = "V" if i == 0 and rec.get("FirstPublishLocationId") else "I"
                    self._store.create(
                        link,
                        {"ContentDocumentId": doc_id, "LinkedEntityId": parent, "ShareType": share},
                        system=True,
                    )
            self._store.update(
                cv,
                version_id,
                {
                    "ContentDocumentId": doc_id,
                    "VersionNumber": str(number),
                    "IsLatest": True,
                    "ContentSize": len(data),
                    "FileExtension": ext or None,
                    "FileType": _TYPES.get(ext, "UNKNOWN"),
                    "Checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
                    "VersionData": f"/services/data/v{version}/sobjects/ContentVersion/{version_id}/VersionData",  # noqa: E501
                },
                system=True,
            )
            self._store.update(
                doc_obj,
                doc_id,
                {
                    "Title": rec["Title"],
                    "LatestPublishedVersionId": version_id,
                    "ContentSize": len(data),
                    "FileExtension": ext or None,
                    "FileType": _TYPES.get(ext, "UNKNOWN"),
                },
                system=True,
            )
        self._blobs[version_id] = data
        return version_id

    def data(self, version_id: str) -> bytes | None:
        return self._blobs.get(version_id)

    def _record(self, record_id: str) -> dict[str, Any]:
        found = self._store.get(record_id)
        assert found is not None
        return found[1]
