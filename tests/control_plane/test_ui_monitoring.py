"""A version's monitoring in the web UI, on PostgreSQL and SQLite: its drift schedule, its reports with
their status and summary, and a finished report's own page served under the API's sandbox policy."""

from __future__ import annotations

import html

from control_plane.api.drift_reports import HTML_POLICY
from tests.control_plane.conftest import ControlPlane
from tests.control_plane.drift_helpers import Worker, monitored_version, put_schedule
from tests.control_plane.ui_helpers import (
    browser,
    log_in,
)


async def test_a_versions_drift_reports_and_their_pages(control_plane_alone: ControlPlane) -> None:
    control_plane = control_plane_alone
    model, version = await monitored_version(control_plane)
    async with browser(control_plane) as client:
        await log_in(client)
        before = await client.get(f"/ui/models/{model}/versions/{version}")
        assert before.status_code == 200
        assert 'id="no-reports"' in before.text and "No drift schedule" in before.text

        await put_schedule(control_plane, model, version, cron="0 * * * *", window="1h")
        runs = f"/api/v1/models/{model}/versions/{version}/drift-reports"
        done = (await control_plane.client.post(runs, json={"since": "1h"})).json()
        pending = (await control_plane.client.post(runs, json={"since": "2h"})).json()
        worker = Worker(control_plane.service)
        claimed = await worker.job()
        finished = await worker.complete(claimed["id"])
        assert finished.status_code == 200, finished.text
        waiting = pending if claimed["id"] == done["id"] else done

        page = await client.get(f"/ui/models/{model}/versions/{version}")
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert "Drift reports run on <code>0 * * * *</code> (UTC) over windows of 1h" in text
        assert f'data-report="{claimed["id"]}"' in page.text and f'data-report="{waiting["id"]}"' in page.text
        assert "dataset drift False; share drifted 0.0; rows 3" in text
        assert f'href="/ui/drift-reports/{claimed["id"]}">open the report' in page.text

        report = await client.get(f"/ui/drift-reports/{claimed['id']}")
        assert report.status_code == 200
        assert report.text == f"<!doctype html><title>{claimed['id']}</title><p>no drift</p>"
        assert report.headers["content-security-policy"] == HTML_POLICY
        not_yet = await client.get(f"/ui/drift-reports/{waiting['id']}")
        assert not_yet.status_code == 404 and "Error 404:" in not_yet.text
