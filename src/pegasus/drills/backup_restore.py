"""`pegasus drill backup-restore`: back up a staging target, restore it into a second one.

Seed a staging target with lectures processed through the pipeline, record what it holds
(every table's row count and per-column fingerprints, every object's SHA-256, every
lecture read back through the lecture services), take a backup set (``create_backup``),
check the set on its own (``verify_backup``), restore it into a second, empty staging
target (``restore_backup``, which checks the restored database and store itself), and then
check the restored target independently of the backup code: the same tables and
fingerprints, the same objects, and every lecture readable with equal checksums.

RPO (data age at backup): from the newest write in the source to the snapshot's
``taken_at``. RTO: wall time of the restore (with its own checks) plus the drill's read-back
of the restored target: how long until a restored deployment is known to be good.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pegasus.config import Settings
from pegasus.db.session import unit_of_work
from pegasus.drills.common import (
    DrillOptions,
    DrillOutcome,
    StepHook,
    current_revision,
    describe_targets,
    finish,
    prepare_staging,
    readback_check,
    record_servers,
    stopped,
)
from pegasus.drills.evidence import Evidence, StepFailed, iso
from pegasus.drills.fingerprints import compare, snapshot
from pegasus.drills.seeding import (
    StagedRuntime,
    create_owner,
    differences,
    newest_write,
    object_digests,
    process_lectures,
    read_lecture,
    staged_runtime,
)
from pegasus.drills.staging import Staging, Target
from pegasus.services import upgrade_database

if TYPE_CHECKING:
    from pegasus.backup.reports import BackupSet, Check

DRILL = "backup-restore"
COVERAGE = (
    "RPO here is the data age at the snapshot (newest write to taken_at) for a backup taken "
    "right after the writes; a deployment's RPO adds the time between scheduled backups. "
    "RTO is the restore with its checks plus the drill's own read-back, on drill-sized data; "
    "docs/operations/backup.md scales it. Stages run in the drill's process "
    "(LocalDispatcher): the queue and worker processes are not exercised."
)


@dataclass(frozen=True)
class DrillHooks:
    """Calls made between steps; the drill's tests use them to break a backup or a restore
    the way a real fault would, and watch the drill fail."""

    after_backup: Callable[[BackupSet], None] | None = None
    after_restore: Callable[[Target], None] | None = None


def run_backup_restore(
    settings: Settings,
    options: DrillOptions,
    *,
    on_step: StepHook | None = None,
    hooks: DrillHooks | None = None,
) -> DrillOutcome:
    """Run the drill on ``options.column`` and write its evidence; see the module doc."""
    evidence = Evidence(DRILL, options.column, options.command, on_step=on_step)
    evidence.notes.append(COVERAGE)
    staging = prepare_staging(settings, options)
    opened: list[StagedRuntime] = []
    try:
        with evidence.step(
            "create staging",
            "Two new empty databases and stores of the drill's own (source and restore "
            "target), never the deployment's, and a place for the backup set.",
            "CREATE DATABASE pegasus_drill_<stamp>_{source,restore} + S3 CreateBucket (3 buckets)"
            if options.column == "scaled"
            else "mkdir STAGING_DIR/{source,restore,backups}",
        ) as step:
            record_servers(evidence, staging)
            source = staging.new_target("source")
            restore = staging.new_target("restore")
            destination = staging.backup_destination()
            evidence.staging = {
                **describe_targets(staging, [source, restore]),
                "backup_destination": destination,
            }
            step.data = evidence.staging
        _run(
            evidence, staging, source, restore, destination, options, hooks or DrillHooks(), opened
        )
    except StepFailed:
        pass  # recorded in its step
    except Exception as exc:
        stopped(evidence, exc)
    except BaseException:
        staging.close()  # interrupted: leave nothing behind, write no evidence
        raise
    finally:
        for staged in opened:
            staged.close()
    return finish(evidence, staging, options)


def _record_checks(evidence: Evidence, prefix: str, checks: tuple[Check, ...]) -> None:
    for check in checks:
        evidence.check(f"{prefix}: {check.name}", check.ok, check.detail)


def _run(
    evidence: Evidence,
    staging: Staging,
    source: Target,
    restore: Target,
    destination: str,
    options: DrillOptions,
    hooks: DrillHooks,
    opened: list[StagedRuntime],
) -> None:
    from pegasus.backup.service import create_backup, restore_backup, verify_backup

    staged = staged_runtime(source.settings)
    opened.append(staged)
    s3 = staging.s3_settings()

    with evidence.step(
        "upgrade source to head", "Migrate the empty source database.", "pegasus db upgrade"
    ):
        upgrade_database(staged.runtime)

    with evidence.step(
        "seed",
        f"Process {options.lectures} lecture(s) from the bundled clip through the whole "
        "pipeline (ingest, transcribe, generate, export) in this process.",
        "create_user + create_token + create_invitation + create_course + create_lecture; "
        "StageRunner.run until no stage is queued",
    ) as step:
        owner = create_owner(staged, "Backup drill")
        titles = [f"Drill lecture {n}" for n in range(1, options.lectures + 1)]
        seeded = process_lectures(staged, owner, titles)
        step.data = {"lectures": [vars(p) for p in seeded]}
        evidence.check(
            "seed lectures succeeded",
            all(p.status == "succeeded" for p in seeded),
            ", ".join(f"{p.lecture_id} {p.status}" for p in seeded),
        )

    with evidence.step(
        "record source",
        "Read every lecture back through the lecture services; take every table's row count "
        "and per-column fingerprints and every object's SHA-256; find the newest write.",
        "read_transcript + export_file + object SHA-256; SELECT every table; list + hash objects",
    ) as step:
        source_reads = [read_lecture(staged, owner.user_id, p.lecture_id) for p in seeded]
        for read in source_reads:
            readback_check(evidence, "source lecture read", read)
        source_tables = snapshot(staged.engine)
        source_objects = object_digests(staged.store)
        source_revision = current_revision(staged.engine)
        with unit_of_work(staged.runtime.session_factory) as session:
            newest = newest_write(session)
        step.data = {
            "row_counts": source_tables.counts(),
            "table_fingerprints": source_tables.digests(),
            "objects": len(source_objects),
            "alembic_revision": source_revision,
            "newest_write_at": iso(newest),
            "lectures": [read.to_dict() for read in source_reads],
        }
    # The source is closed before the backup so nothing of the drill holds it open.
    staged.close()
    opened.remove(staged)

    with evidence.step(
        "create backup",
        "Write a backup set of the source database and store.",
        f"pegasus backup create --to {destination}",
    ) as step:
        backup = create_backup(source.settings, destination)
        step.data = backup.to_dict()
        evidence.machine["backup_tools"] = backup.tool_versions
        _record_checks(evidence, "create", backup.checks)
        evidence.check("backup written", backup.ok, f"{len(backup.checks)} checks")
        counts = {name: backup.row_counts.get(name) for name in source_tables.counts()}
        evidence.check(
            "backup row counts equal the source's",
            counts == source_tables.counts(),
            f"{sum(v or 0 for v in counts.values())} rows in {len(counts)} tables; "
            + (
                "equal"
                if counts == source_tables.counts()
                else f"source {source_tables.counts()} backup {counts}"
            ),
        )
        evidence.check(
            "backup holds every object",
            backup.object_count == len(source_objects),
            f"{backup.object_count} objects ({backup.object_bytes} bytes) in the set, "
            f"{len(source_objects)} in the source store",
        )
        rpo = (backup.taken_at - newest).total_seconds() if newest is not None else None
        evidence.check(
            "snapshot taken after the newest write",
            rpo is not None and rpo >= 0,
            f"newest write {iso(newest)}, snapshot {iso(backup.taken_at)}",
        )
    location = backup.location
    evidence.measurements.update(
        {
            "rpo_seconds": round(rpo, 3) if rpo is not None else None,
            "newest_write_at": iso(newest),
            "snapshot_taken_at": iso(backup.taken_at),
            "backup_seconds": round(step.seconds, 3),
            "backup_location": location,
        }
    )
    if hooks.after_backup is not None:
        hooks.after_backup(backup)

    with evidence.step(
        "verify backup",
        "Check the set on its own: the dump's table of contents or the SQLite copy's "
        "integrity, every object against its checksum, the manifests against each other.",
        f"pegasus backup verify {location}",
    ) as step:
        verified = verify_backup(location, s3=s3)
        step.data = verified.to_dict()
        _record_checks(evidence, "verify", verified.checks)
        evidence.check("backup verified", verified.ok, f"{len(verified.checks)} checks")
    evidence.measurements["verify_seconds"] = round(step.seconds, 3)

    with evidence.step(
        "restore",
        "Restore the set into the empty restore target; the restore checks row counts and "
        "fingerprints, every artifact's object and checksum, the Alembic revision and the "
        "database's own integrity check.",
        f"pegasus backup restore {location} --to-database {restore.describe()['database']} "
        f"--to-storage {restore.describe()['storage']}",
    ) as step:
        restored = restore_backup(
            location, database_url=restore.database_url, storage=restore.storage, s3=s3
        )
        step.data = restored.to_dict()
        _record_checks(evidence, "restore", restored.checks)
        evidence.check("restore verified", restored.ok, f"{len(restored.checks)} checks")
    restore_seconds = step.seconds
    if hooks.after_restore is not None:
        hooks.after_restore(restore)

    with evidence.step(
        "read back restored",
        "Independently of the backup code: compare every table's row count and per-column "
        "fingerprints and every object's SHA-256 with the source's, check the Alembic "
        "revision, and read every lecture through the lecture services with equal checksums.",
        "SELECT every table; list + hash objects; read_transcript + export_file",
    ) as step:
        target = staged_runtime(restore.settings)
        opened.append(target)
        revision = current_revision(target.engine)
        evidence.check(
            "restored schema at the source's revision",
            revision == source_revision,
            f"restored {revision}, source {source_revision}",
        )
        restored_tables = snapshot(target.engine)
        diff = compare(source_tables, restored_tables)
        evidence.check(
            "restored tables equal the source's",
            diff.unchanged and not diff.dropped_tables and not diff.added_tables,
            diff.describe(),
        )
        restored_objects = object_digests(target.store)
        missing = differences(source_objects, restored_objects)
        evidence.check(
            "restored objects equal the source's",
            not missing,
            f"{len(restored_objects)} of {len(source_objects)} objects, "
            + (f"differences: {missing[:5]}" if missing else "every SHA-256 equal"),
        )
        reads = [read_lecture(target, owner.user_id, p.lecture_id) for p in seeded]
        for before, after in zip(source_reads, reads, strict=True):
            readback_check(evidence, "restored lecture read", after)
            evidence.check(
                "restored lecture checksums equal the source's",
                after.checksums() == before.checksums(),
                f"lecture {after.lecture_id}: {len(after.checksums())} artifacts, "
                + (
                    "equal"
                    if after.checksums() == before.checksums()
                    else f"differ: {differences(before.checksums(), after.checksums())}"
                ),
            )
        step.data = {
            "row_counts": restored_tables.counts(),
            "table_fingerprints": restored_tables.digests(),
            "objects": len(restored_objects),
            "lectures": [read.to_dict() for read in reads],
        }
    readback_seconds = step.seconds
    evidence.measurements.update(
        {
            "rto_seconds": round(restore_seconds + readback_seconds, 3),
            "restore_seconds": round(restore_seconds, 3),
            "readback_seconds": round(readback_seconds, 3),
            "lectures": len(seeded),
            "rows": source_tables.total_rows,
            "row_counts": source_tables.counts(),
            "objects": len(source_objects),
            "object_bytes": backup.object_bytes,
        }
    )
