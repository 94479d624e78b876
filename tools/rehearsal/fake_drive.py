"""A stand-in for Google Drive's download endpoint, for tests and the rehearsal (never for real use).

It answers ``requests.Session.get`` the way Drive answers gdown: the file as an attachment (honouring
``Range``, so gdown's resume works), or an HTML page where Drive would send one (private file, quota).
The real gdown and everything after it (``helpers.data``'s checks, safe extraction, validation) run
unchanged; only the bytes come from a local file instead of the network.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import requests

DRIVE_HOSTS = ("drive.google.com", "docs.google.com", "drive.usercontent.google.com")
ENVIRONMENT_VARIABLE = "GENUINE_POSED_FAKE_DRIVE"  # a folder: file <id> in it is Drive's file <id>


class _Disconnecting:
    """A response body that drops the connection after ``cut`` bytes."""

    def __init__(self, body: bytes, cut: int):
        self.body, self.cut, self.position = body, cut, 0

    def read(self, size: int = -1, **kwargs) -> bytes:
        if self.position >= self.cut:
            raise requests.exceptions.ConnectionError("connection reset by peer (simulated)")
        end = self.cut if size is None or size < 0 else min(self.cut, self.position + size)
        chunk, self.position = self.body[self.position:end], end
        return chunk

    def close(self) -> None:
        pass


class FakeDrive:
    """Answers like Drive's download endpoint for one file (``body``) or for the files of a folder (``folder``:
    the file named ``<id>`` is served for id ``<id>``; an unknown id gets Drive's "not found" page).

    ``page``: an HTML page served instead (what Drive does for quota and permission problems);
    ``cut_at``: drop the first connection after that many bytes.
    """

    def __init__(self, body: bytes = b"", page: str | None = None, status: int = 200, cut_at: int | None = None,
                 folder: Path | str | None = None):
        self.body, self.page, self.status, self.cut_at = body, page, status, cut_at
        self.folder = Path(folder) if folder is not None else None
        self.requests: list[dict] = []

    def _file(self, url: str) -> bytes | None:
        if self.folder is None:
            return self.body
        found = re.search(r"[?&]id=([-\w]+)", url)
        path = self.folder / found[1] if found else None
        return path.read_bytes() if path is not None and path.is_file() else None

    def get(self, url: str, headers: dict | None = None, **kwargs) -> requests.Response:
        headers = dict(headers or {})
        self.requests.append({"url": url, **headers})
        content = self._file(url)
        if self.page is not None or content is None:
            page = self.page if self.page is not None else "<html><head><title>Google Drive - Not found</title></head></html>"
            return self._response(url, self.status if self.page is not None else 404,
                                  io.BytesIO(page.encode()), {"Content-Type": "text/html; charset=utf-8"})
        offset = int(re.fullmatch(r"bytes=(\d+)-", headers["Range"])[1]) if "Range" in headers else 0
        body = content[offset:]
        answer = {
            "Content-Type": "application/zip",
            # as Drive sends it: both forms of the name (gdown 5.0 reads only the RFC 5987 one)
            "Content-Disposition": "attachment; filename=\"FakeTrue_DB.zip\"; filename*=UTF-8''FakeTrue_DB.zip",
            "Content-Length": str(len(body)),
            "ETag": '"v1"',
        }
        if offset:
            answer["Content-Range"] = f"bytes {offset}-{len(content) - 1}/{len(content)}"
        raw = io.BytesIO(body)
        if self.cut_at is not None:
            raw, self.cut_at = _Disconnecting(body, self.cut_at - offset), None
        return self._response(url, 206 if offset else 200, raw, answer)

    @staticmethod
    def _response(url: str, status: int, raw, headers: dict) -> requests.Response:
        response = requests.Response()
        response.status_code, response.url, response.raw = status, url, raw
        response.headers = requests.structures.CaseInsensitiveDict(headers)
        response.encoding = "utf-8"
        return response


def install(fake: FakeDrive, setattr_: Callable = setattr) -> FakeDrive:
    """Route ``requests.Session.get`` for Drive's hosts to ``fake`` (other hosts are untouched).
    ``setattr_``: pytest's ``monkeypatch.setattr`` in tests, so the patch is undone afterwards."""
    real_get = requests.Session.get

    def get(session, url, **kwargs):
        if any(host in str(url) for host in DRIVE_HOSTS):
            return fake.get(url, **kwargs)
        return real_get(session, url, **kwargs)

    setattr_(requests.Session, "get", get)
    return fake
