"""Retention of sampled traffic: the hourly partitions that ended longer ago than their model's limit are
deleted, on a schedule, and what was removed is logged and counted.

The limit of a model is its own `sample_retention_days`, set through the control plane's API and read from
the catalog snapshot; else the operator's entry for it in the setting `sample_retention_model_days`; else
the setting `sample_retention_days`. No pass runs before the first snapshot arrived (a model that keeps its
samples longer than the default must not lose them to a Sonar that has not heard of it yet).

A partition (one version, one UTC hour) goes once its hour ended more than
the limit ago, all its parts at once, so a drift report never sees half an hour. Each pass lists `samples/`
once (sizes come with the listing) and deletes part by part; a failed delete is logged and the rest is left
for the next pass. Several Sonar processes may run it at once: deleting a deleted key is no error.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from servicekit.object_keys import sample_partition_of
from servicekit.object_store import ObjectStore, ObjectStoreError
from sonar.metrics import Metrics
from sonar.settings import Settings

log = logging.getLogger(__name__)

SAMPLES = "samples/"
WAIT_FOR_CATALOG_S = 1.0


@dataclass
class Removed:
    """What one pass deleted."""

    partitions: int = 0
    objects: int = 0
    bytes: int = 0


async def remove_expired(
    store: ObjectStore,
    now: datetime,
    default_days: float,
    model_days: Mapping[str, float],
    metrics: Metrics | None = None,
) -> Removed:
    """Delete the sample partitions whose hour ended more than their model's limit before `now`."""
    sizes = await store.sizes(SAMPLES)
    expired: dict[tuple[str, int], dict[datetime, list[tuple[str, int]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for key, size in sizes.items():
        partition = sample_partition_of(key)
        if partition is None:
            continue
        model, version, hour = partition
        limit = timedelta(days=model_days.get(model, default_days))
        if hour + timedelta(hours=1) <= now - limit:
            expired[(model, version)][hour].append((key, size))
    removed = Removed()
    for (model, version), hours in sorted(expired.items()):
        objects = nbytes = 0
        for parts in hours.values():
            for key, size in parts:
                await store.delete(key)
                objects += 1
                nbytes += size
                if metrics is not None:
                    metrics.retention_objects.inc()
                    metrics.retention_bytes.inc(size)
            removed.partitions += 1
        removed.objects += objects
        removed.bytes += nbytes
        days = model_days.get(model, default_days)
        log.info(
            "retention: removed %d hourly partitions of %s:%d (%d objects, %d bytes) from %s to %s, "
            "older than %g days",
            len(hours),
            model,
            version,
            objects,
            nbytes,
            min(hours).isoformat(),
            (max(hours) + timedelta(hours=1)).isoformat(),
            days,
        )
    return removed


def limits(settings: Settings, catalog_days: Mapping[str, float]) -> dict[str, float]:
    """Each model's limit in days other than the default: the catalog's values over the operator's."""
    return {**settings.sample_retention_model_days, **catalog_days}


async def run_retention(
    settings: Settings,
    store: ObjectStore,
    metrics: Metrics,
    catalog_days: Callable[[], Mapping[str, float] | None],
) -> None:
    """A pass every `sample_retention_interval_s` (the first as soon as `catalog_days()`, the models' own
    limits from the catalog, is known) until cancelled; a failed pass is logged and the next one tries
    again (retention never stops ingest)."""
    while (known := catalog_days()) is None:
        await asyncio.sleep(min(settings.sample_retention_interval_s, WAIT_FOR_CATALOG_S))
    while True:
        try:
            await remove_expired(
                store,
                datetime.now(UTC),
                settings.sample_retention_days,
                limits(settings, known),
                metrics,
            )
        except ObjectStoreError as exc:
            log.warning("retention: the pass stopped (%s); the rest waits for the next one", exc)
        except Exception:
            log.exception("retention: the pass failed; trying again at the next one")
        await asyncio.sleep(settings.sample_retention_interval_s)
        latest = catalog_days()
        if latest is not None:
            known = latest
