"""Sonar's `/metrics` answers Prometheus text from its own registry and `/health` the wiring's health."""

from __future__ import annotations

import httpx

from sonar.http_edge import create_http_app
from sonar.metrics import CONTENT_TYPE, Metrics


async def test_metrics_and_health() -> None:
    metrics = Metrics()
    metrics.records.labels("accepted").inc(3)
    app = create_http_app(metrics, lambda: {"status": "ok", "buffered_records": 0})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sonar") as client:
        scraped = await client.get("/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"] == CONTENT_TYPE
        assert 'hydro_sonar_records_total{outcome="accepted"} 3.0' in scraped.text
        health = await client.get("/health")
        assert health.json() == {"status": "ok", "buffered_records": 0}
        assert (await client.get("/nowhere")).status_code == 404
