"""Where a prediction runs: on the event loop, or on a worker thread.

A worker thread keeps the loop answering health checks and other requests while a model works, but the
hand-off costs about 0.1 ms of CPU and two context switches per call here: more than a small model's
whole prediction, and the biggest part of the runtime's own cost at concurrency 1 after gRPC itself.
So a prediction runs on the loop when it is the only request in flight and each of the model's last
`window` predictions took less than `inline_below_s`; one slower prediction sends the following ones
back to threads until `window` fast ones have been seen again. With other requests in flight a
prediction always goes to a thread (models that release the GIL then run side by side).
"""

from __future__ import annotations

from collections import deque


class PredictPlacement:
    def __init__(self, inline_below_s: float, window: int = 16) -> None:
        self.inline_below_s = inline_below_s
        self._recent: deque[float] = deque(maxlen=window)

    def inline(self, in_flight: int) -> bool:
        """True when the prediction of a request, one of `in_flight` being served, may run on the loop."""
        recent = self._recent
        return (
            in_flight <= 1
            and len(recent) == recent.maxlen
            and self.inline_below_s > 0
            and max(recent) < self.inline_below_s
        )

    def observe(self, seconds: float) -> None:
        """One prediction took `seconds` (called from the loop or a worker thread; appends are atomic)."""
        self._recent.append(seconds)
