"""The web UI calls the REST API in process, as its session's principal.

Every read and write of the UI is one ASGI call to the same Starlette app that serves `/api/v1`, so it goes
through the same guard (the role check, the audit trail), the same endpoint and the same use case as a call
from the CLI or Terraform, and answers the same JSON and the same error messages. Nothing crosses a socket:
the principal is handed in under the scope key the guard reads (`api.guard.IN_PROCESS_PRINCIPAL`), which no
request from the network can set.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from starlette.types import ASGIApp, Message, Scope

from control_plane.api.common import PREFIX
from control_plane.api.guard import IN_PROCESS_PRINCIPAL
from control_plane.auth import Principal


@dataclass(frozen=True)
class Answer:
    """The API's answer: status, the parsed JSON (None when the body was not JSON) and the raw text."""

    status: int
    body: Any
    text: str

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def error(self) -> str:
        """The API's message for a failed call, in words."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), str):
            return str(self.body["error"])
        return f"the API answered HTTP {self.status}"


def path(*parts: str | int) -> str:
    """An API path from its segments, each quoted (names never hold a slash)."""
    return PREFIX + "".join("/" + quote(str(part), safe="") for part in parts)


async def call(
    app: ASGIApp,
    principal: Principal,
    method: str,
    api_path: str,
    *,
    body: Any = None,
    content: bytes | None = None,
    content_type: str = "application/octet-stream",
    query: dict[str, str] | None = None,
) -> Answer:
    """Call `method api_path` on `app` as `principal`; `body` is sent as JSON when given, else `content`
    (raw bytes of `content_type`, such as a model package)."""
    headers = [(b"host", b"in-process"), (b"accept", b"application/json")]
    if body is not None:
        payload = json.dumps(body).encode()
        content_type = "application/json"
    else:
        payload = content or b""
    if body is not None or content is not None:
        headers += [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())]
    query_string = urlencode(query or {}).encode()
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": api_path,
        "raw_path": api_path.encode(),
        "root_path": "",
        "query_string": query_string,
        "headers": headers,
        "client": ("in-process", 0),
        "server": ("in-process", 0),
        IN_PROCESS_PRINCIPAL: principal,
    }
    sent = False
    status = 500
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if sent:  # the caller stays until the answer is complete
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return Answer(status, parsed, text)
