"""Counting and logging each answered invoke: the `requests`, `errors` and latency metrics and the one
JSON request line (`router.request_log`), written alike for every edge and every outcome.

The latency is taken when the answer is ready; the counting and the line are left to the loop's next
turn (`call_soon`), so that the answer goes out first.
"""

from __future__ import annotations

import asyncio

from router.metrics import Metrics
from router.request_log import RequestContext, RequestLog


class Accounting:
    def __init__(self, metrics: Metrics, request_log: RequestLog) -> None:
        self.metrics = metrics
        self.request_log = request_log

    def finish(
        self, context: RequestContext, label: str, code: str, status: int | str, problem: str | None
    ) -> None:
        """Count one answered invoke and write its line (`label`: the application, or 'unknown'; `code`:
        'ok', 'cancelled' or the error's reason; `status`: the edge's, as the line shows it)."""
        context.stop()
        asyncio.get_running_loop().call_soon(self._finished, context, label, code, status, problem)

    def _finished(
        self, context: RequestContext, label: str, code: str, status: int | str, problem: str | None
    ) -> None:
        self.observe(label, context.transport, code, context.elapsed_s())
        self.request_log.finish(context, status, code, problem)

    def observe(self, application: str, protocol: str, code: str, seconds: float) -> None:
        """Count one answered request (`code` is 'ok' or an error reason)."""
        self.metrics.requests.labels(application, protocol, code).inc()
        self.metrics.latency.labels(application, protocol).observe(seconds)
        if code != "ok":
            self.metrics.errors.labels(application, code).inc()
