"""The scaler's /metrics and /health, as a Prometheus scraper and a curious operator see them."""

from __future__ import annotations

import httpx

from scaler.http_edge import create_http_app
from scaler.metrics import CONTENT_TYPE, Metrics


def client() -> httpx.AsyncClient:
    app = create_http_app(Metrics("process"), lambda: {"status": "ok", "versions": 0})
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://scaler")


async def test_a_scraper_reads_the_exposition_and_an_operator_the_health_document() -> None:
    async with client() as http:
        metrics = await http.get("/metrics")
        health = await http.get("/health")
    assert metrics.status_code == 200 and metrics.headers["content-type"] == CONTENT_TYPE
    assert "hydro_scaler_replica_start_seconds" in metrics.text
    assert health.json() == {"status": "ok", "versions": 0}


async def test_head_answers_without_a_body_and_anything_but_get_is_refused_in_json() -> None:
    async with client() as http:
        head = await http.head("/metrics")
        post = await http.post("/health")
        missing = await http.get("/replicas")
    assert head.status_code == 200 and head.content == b""
    assert post.status_code == 405 and post.json() == {"error": "use GET"}
    assert missing.status_code == 404 and missing.json() == {"error": "no route '/replicas'"}
