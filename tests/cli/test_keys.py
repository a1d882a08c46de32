"""`hydro keys create|list|revoke APP`, and `hydro invoke --key` (or HYDRO_INVOKE_KEY) sending the key."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import ADMIN_TOKEN, ControlPlane, copy_example


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in router: answers every POST with `{"y": [1]}` and records its Authorization header."""

    seen: list[str | None] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.seen.append(self.headers.get("authorization"))
        body = json.dumps({"y": [1]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def router() -> Iterator[tuple[str, list[str | None]]]:
    seen: list[str | None] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_create_list_and_revoke_keys(hydro: Any, control_plane: ControlPlane, tmp_path: Path) -> None:
    folder, model = copy_example("fraud-detector", tmp_path)
    assert hydro("deploy", str(folder), "--app", model).exit_code == 0

    created = hydro("keys", "create", model)
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("hk_") and "shown once" in created.stderr

    listed = hydro("keys", "list", model)
    assert listed.exit_code == 0, listed.output
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    stored = httpx.get(f"{control_plane.url}/api/v1/applications/{model}/invoke-keys", headers=headers).json()
    (entry,) = stored["invoke_keys"]
    assert entry["id"] in listed.stdout and entry["prefix"] in listed.stdout
    assert key not in listed.stdout

    revoked = hydro("keys", "revoke", model, entry["id"])
    assert revoked.exit_code == 0, revoked.output
    assert entry["id"] not in hydro("keys", "list", model).stdout

    again = hydro("keys", "revoke", model, entry["id"])
    assert again.exit_code == 1
    assert entry["id"] in again.stderr


def test_keys_of_an_unknown_application_fail_naming_it(hydro: Any) -> None:
    result = hydro("keys", "create", "no-such-app")
    assert result.exit_code == 1
    assert "no-such-app" in result.stderr


def test_invoke_sends_the_key_and_never_the_admin_token(
    hydro: Any, control_plane: ControlPlane, router: tuple[str, list[str | None]]
) -> None:
    url, seen = router
    env = control_plane.env(HYDRO_ROUTER_URL=url)

    assert hydro("invoke", "app", "--json", '{"x": [1]}', "--key", "hk_flag", env=env).exit_code == 0
    assert (
        hydro("invoke", "app", "--json", '{"x": [1]}', env={**env, "HYDRO_INVOKE_KEY": "hk_env"}).exit_code
        == 0
    )
    plain = hydro("invoke", "app", "--json", '{"x": [1]}', env=env)
    assert plain.exit_code == 0 and json.loads(plain.stdout) == {"y": [1]}

    assert seen == ["Bearer hk_flag", "Bearer hk_env", None]
