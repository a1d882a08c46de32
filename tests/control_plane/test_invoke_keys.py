"""Invoke keys: created (the key answered once, stored hashed), listed without secrets, revoked; each
change reaches the routing snapshot at once."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from protos.hydro.v1 import catalog_pb2, catalog_pb2_grpc
from servicekit.grpc_security import ServiceLink
from tests.control_plane.conftest import SERVICE_TOKEN, ControlPlane, unique
from tests.control_plane.packages import package


async def _application(control_plane: ControlPlane) -> str:
    model, app = unique("keyed"), unique("keyed-app")
    await control_plane.release(model, package(model))
    spec = {"variants": [{"model": model, "version": 1}], "require_invoke_key": True}
    response = await control_plane.client.put(f"/api/v1/applications/{app}", json=spec)
    assert response.status_code == 200, response.text
    return app


async def _stored_rows(control_plane: ControlPlane, app: str) -> list[tuple[str, ...]]:
    engine = create_async_engine(control_plane.settings.database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT id, application_name, key_sha256, prefix FROM invoke_keys "
                    "WHERE application_name = :a"
                ),
                {"a": app},
            )
            return [tuple(str(value) for value in row) for row in rows]
    finally:
        await engine.dispose()


async def _snapshot(control_plane: ControlPlane) -> catalog_pb2.Snapshot:
    async with ServiceLink(SERVICE_TOKEN).channel(control_plane.catalog_address) as channel:
        stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
        stream = stub.Watch(catalog_pb2.WatchRequest(client="test"))
        message = await asyncio.wait_for(stream.read(), timeout=10)
        stream.cancel()
    assert isinstance(message, catalog_pb2.Snapshot)
    return message


def _hashes(snapshot: catalog_pb2.Snapshot, app: str) -> list[str]:
    return list(next(a for a in snapshot.applications if a.name == app).invoke_key_hashes)


async def test_create_list_and_revoke_invoke_keys(control_plane: ControlPlane) -> None:
    app = await _application(control_plane)
    before = await _snapshot(control_plane)
    assert _hashes(before, app) == []

    created = await control_plane.client.post(f"/api/v1/applications/{app}/invoke-keys")
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "key", "prefix", "application", "created_at"}
    assert body["application"] == app and body["key"].startswith(body["prefix"])
    key = body["key"]
    digest = hashlib.sha256(key.encode()).hexdigest()

    # Hashed at rest: the database holds the digest and the prefix, never the key.
    rows = await _stored_rows(control_plane, app)
    assert rows == [(body["id"], app, digest, body["prefix"])]
    assert all(key not in value for value in rows[0])

    # The routing snapshot carries the digest, under a newer revision.
    after = await _snapshot(control_plane)
    assert after.revision > before.revision
    assert _hashes(after, app) == [digest]

    second = (await control_plane.client.post(f"/api/v1/applications/{app}/invoke-keys")).json()
    listed = await control_plane.client.get(f"/api/v1/applications/{app}/invoke-keys")
    assert listed.status_code == 200, listed.text
    keys = listed.json()["invoke_keys"]
    assert {k["id"] for k in keys} == {body["id"], second["id"]}
    assert all(set(k) == {"id", "prefix", "application", "created_at"} for k in keys)
    assert key not in listed.text and second["key"] not in listed.text

    revoked = await control_plane.client.delete(f"/api/v1/applications/{app}/invoke-keys/{body['id']}")
    assert revoked.status_code == 204, revoked.text
    assert [
        k["id"]
        for k in (await control_plane.client.get(f"/api/v1/applications/{app}/invoke-keys")).json()[
            "invoke_keys"
        ]
    ] == [second["id"]]
    final = await _snapshot(control_plane)
    assert final.revision > after.revision
    assert _hashes(final, app) == [hashlib.sha256(second["key"].encode()).hexdigest()]

    again = await control_plane.client.delete(f"/api/v1/applications/{app}/invoke-keys/{body['id']}")
    assert again.status_code == 404
    assert body["id"] in again.json()["error"]


async def test_writes_need_a_token(control_plane: ControlPlane) -> None:
    app = await _application(control_plane)
    key_id = (await control_plane.client.post(f"/api/v1/applications/{app}/invoke-keys")).json()["id"]
    async with httpx.AsyncClient(base_url=control_plane.url) as anonymous:
        created = await anonymous.post(f"/api/v1/applications/{app}/invoke-keys")
        assert created.status_code == 401, created.text
        assert created.headers["www-authenticate"] == "Bearer"
        revoked = await anonymous.delete(f"/api/v1/applications/{app}/invoke-keys/{key_id}")
        assert revoked.status_code == 401, revoked.text
    assert len(await _stored_rows(control_plane, app)) == 1


async def test_unknown_application_or_key_is_404_naming_it(control_plane: ControlPlane) -> None:
    missing = unique("nowhere")
    for method in ("POST", "GET"):
        response = await control_plane.client.request(method, f"/api/v1/applications/{missing}/invoke-keys")
        assert response.status_code == 404, response.text
        assert missing in response.json()["error"]
    gone = await control_plane.client.delete(f"/api/v1/applications/{missing}/invoke-keys/abc")
    assert gone.status_code == 404 and missing in gone.json()["error"]

    app = await _application(control_plane)
    unknown = await control_plane.client.delete(f"/api/v1/applications/{app}/invoke-keys/no-such-key")
    assert unknown.status_code == 404
    assert "no-such-key" in unknown.json()["error"]


async def test_a_key_of_one_application_cannot_be_revoked_through_another(
    control_plane: ControlPlane,
) -> None:
    first, other = await _application(control_plane), await _application(control_plane)
    key_id = (await control_plane.client.post(f"/api/v1/applications/{first}/invoke-keys")).json()["id"]
    response = await control_plane.client.delete(f"/api/v1/applications/{other}/invoke-keys/{key_id}")
    assert response.status_code == 404
    assert len(await _stored_rows(control_plane, first)) == 1


async def test_deleting_the_application_deletes_its_keys(control_plane: ControlPlane) -> None:
    app = await _application(control_plane)
    await control_plane.client.post(f"/api/v1/applications/{app}/invoke-keys")
    assert (await control_plane.client.delete(f"/api/v1/applications/{app}")).status_code == 204
    assert await _stored_rows(control_plane, app) == []
