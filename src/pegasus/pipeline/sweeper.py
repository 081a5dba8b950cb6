"""The sweeper: stored objects no row references, and the scratch directories of dead workers.

Writes that a commit owns clean up after themselves (``pegasus.pipeline.objects``), but a
process killed between storing an object and committing its row, or a cleanup that failed
against a storage outage, leaves an object behind that nothing will read again; a worker
killed with SIGKILL leaves its scratch directory. The sweeper removes both. It runs as one
of the reconciler's housekeeping jobs (every worker and the embedded server run it, at most
once per ``interval``; passes on several machines at once are harmless).

An object is removed only when all of these hold:
- it lives under a prefix Pegasus owns (``courses/``, ``uploads/``), never anything else an
  operator keeps in the bucket (a backup set, for one);
- it is older than the grace period: a stage, an upload or an edit that has just stored an
  object and is about to commit the row that points to it keeps it;
- no artifact row points to it, and no resumable upload still in progress keeps its bytes
  there (its staging prefix, and the key it completes to);
- it has not been rewritten since it was listed (the store's delete checks, just before
  deleting, that it is still older than the grace period).
Which rows reference an object is read after the objects were listed, so a row committed
while the sweep lists is seen.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pegasus.db.models import Artifact, Upload
from pegasus.db.session import unit_of_work
from pegasus.errors import PegasusError
from pegasus.observability.metrics import PipelineMetrics
from pegasus.pipeline.workdirs import sweep_dead_workdirs
from pegasus.storage.base import ObjectStore, StoredObject

log = structlog.get_logger(__name__)

#: The key prefixes Pegasus writes to; nothing outside them is ever swept.
SWEPT_PREFIXES = ("courses/", "uploads/")
#: How old an unreferenced object must be before it is removed (a setting is proposed:
#: ``PEGASUS_STORAGE_SWEEP_GRACE_HOURS``).
DEFAULT_GRACE = timedelta(hours=24)
#: How often a process sweeps, at most (the reconciler calls more often).
DEFAULT_INTERVAL = timedelta(hours=1)
#: Objects checked against the database per query.
BATCH = 500


@dataclass(frozen=True)
class SweepReport:
    """What one sweep removed and kept."""

    objects_removed: int
    objects_kept_young: int
    objects_referenced: int
    workdirs_removed: int
    seconds: float


def _batches(objects: Iterable[StoredObject], size: int) -> Iterator[list[StoredObject]]:
    batch: list[StoredObject] = []
    for stored in objects:
        batch.append(stored)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _referenced(session: Session, keys: list[str]) -> tuple[set[str], tuple[str, ...]]:
    """Of ``keys``, those an artifact row points to; and every prefix and key that a
    resumable upload still holds (its staging bytes, and its target until it completes)."""
    referenced = set(session.scalars(select(Artifact.key).where(Artifact.key.in_(keys))))
    prefixes: list[str] = []
    for state, completed_at in session.execute(select(Upload.storage_state, Upload.completed_at)):
        if not isinstance(state, dict):
            continue
        staging = state.get("staging")
        if isinstance(staging, str) and staging:
            prefixes.append(staging)
        target = state.get("key")
        if completed_at is None and isinstance(target, str):
            referenced.add(target)
    return referenced, tuple(prefixes)


def sweep_objects(
    session_factory: sessionmaker[Session],
    store: ObjectStore,
    *,
    now: datetime,
    grace: timedelta = DEFAULT_GRACE,
) -> tuple[int, int, int]:
    """Remove the unreferenced objects older than ``grace`` under ``SWEPT_PREFIXES``;
    return (removed, kept because younger, kept because referenced)."""
    cutoff = now - grace
    removed = young = referenced_count = 0
    for prefix in SWEPT_PREFIXES:
        for batch in _batches(store.list_prefix(prefix), BATCH):
            old = []
            for stored in batch:
                if stored.modified_at is None or stored.modified_at >= cutoff:
                    young += 1
                else:
                    old.append(stored)
            if not old:
                continue
            with unit_of_work(session_factory) as session:
                referenced, held = _referenced(session, [stored.key for stored in old])
            for stored in old:
                if stored.key in referenced or stored.key.startswith(held):
                    referenced_count += 1
                    continue
                if store.delete(stored.key, unmodified_since=cutoff):
                    removed += 1
                    log.info(
                        "sweeper.object.removed",
                        key=stored.key,
                        size_bytes=stored.size_bytes,
                        modified_at=stored.modified_at.isoformat() if stored.modified_at else None,
                    )
                else:
                    young += 1  # rewritten (or removed) since it was listed
    return removed, young, referenced_count


class Sweeper:
    """Removes orphaned objects and dead workers' scratch directories; call it with the time
    (a reconciler housekeeping job). It sweeps at most once per ``interval``."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        store: ObjectStore,
        metrics: PipelineMetrics | None = None,
        *,
        grace: timedelta = DEFAULT_GRACE,
        interval: timedelta = DEFAULT_INTERVAL,
        workdir_root: Path | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._store = store
        self._metrics = metrics
        self.grace = grace
        self.interval = interval
        self._workdir_root = workdir_root
        self._last: datetime | None = None

    def __call__(self, now: datetime) -> SweepReport | None:
        """Sweep if the last sweep is ``interval`` ago (or there was none); else None."""
        if self._last is not None and now - self._last < self.interval:
            return None
        self._last = now
        return self.sweep(now)

    def sweep(self, now: datetime) -> SweepReport:
        """One sweep now. Storage that is down is logged and leaves objects to the next."""
        started = time.monotonic()
        workdirs = len(sweep_dead_workdirs(self._workdir_root))
        removed = young = referenced = 0
        try:
            removed, young, referenced = sweep_objects(
                self._session_factory, self._store, now=now, grace=self.grace
            )
        except PegasusError as exc:
            log.warning("sweeper.storage_failed", error_code=exc.code)
        if self._metrics is not None:
            self._metrics.sweeper_removed.labels(kind="object").inc(removed)
            self._metrics.sweeper_removed.labels(kind="workdir").inc(workdirs)
        report = SweepReport(
            objects_removed=removed,
            objects_kept_young=young,
            objects_referenced=referenced,
            workdirs_removed=workdirs,
            seconds=round(time.monotonic() - started, 3),
        )
        log.info(
            "sweeper.finished",
            objects_removed=removed,
            objects_kept_young=young,
            objects_referenced=referenced,
            workdirs_removed=workdirs,
            grace_seconds=self.grace.total_seconds(),
            seconds=report.seconds,
        )
        return report
