"""`pegasus drill migration-rollback`: head, one revision down, head again, with no data lost.

On a staging target: migrate to head, process real lectures, smoke-check (read a lecture
through the lecture services, process a new one), then downgrade one revision and
smoke-check what the older schema serves, upgrade back and smoke-check again. Every step
compares row counts and per-column fingerprints with the step before.

What the smoke on the older schema covers: every lecture's rows are read with plain SQL and
each artifact's stored object is checked against its row (size and SHA-256). Processing a
new lecture there is tried and recorded as a probe, not counted: the code at head is not
promised to run on an older schema (a real rollback runs the older code).
"""

from __future__ import annotations

from alembic.script import ScriptDirectory

from pegasus.config import Settings
from pegasus.db.migrate import alembic_config, downgrade
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
from pegasus.drills.evidence import Evidence, StepFailed
from pegasus.drills.fingerprints import Snapshot, compare, snapshot
from pegasus.drills.seeding import (
    LectureReadBack,
    Owner,
    StagedRuntime,
    create_owner,
    process_lectures,
    read_lecture,
    read_lecture_rows,
    staged_runtime,
)
from pegasus.services import upgrade_database

DRILL = "migration-rollback"
COVERAGE = (
    "Smoke on the previous revision: every lecture's rows are read with plain SQL and each "
    "artifact's stored object is checked against its row (size and SHA-256). Processing a new "
    "lecture there is tried and recorded as a probe, not counted: the code at head is not "
    "promised to run on an older schema (a real rollback runs the older code). Stages run in "
    "the drill's process (LocalDispatcher): the queue and worker processes are not exercised."
)


def _revisions(url: str) -> tuple[str, str]:
    """(head, the revision one below it)."""
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    if head is None:
        raise RuntimeError("the migrations have no head revision")
    below = script.get_revision(head)
    previous = below.down_revision if below is not None else None
    if not isinstance(previous, str):
        raise RuntimeError(f"head {head} has no single revision below it ({previous!r})")
    return head, previous


class _Drill:
    def __init__(self, evidence: Evidence, staged: StagedRuntime, owner: Owner) -> None:
        self.evidence = evidence
        self.staged = staged
        self.owner = owner
        #: lecture id -> artifact checksums when first read at head
        self.first_read: dict[str, dict[str, str]] = {}
        self.processed = 0

    def process_one(self, label: str) -> str | None:
        """Process one new lecture; return its id when it succeeded."""
        self.processed += 1
        title = f"Drill lecture {self.processed} ({label})"
        (result,) = process_lectures(self.staged, self.owner, [title])
        ok = self.evidence.check(
            f"new lecture processed ({label})",
            result.status == "succeeded",
            f"lecture {result.lecture_id} {result.status} after {result.stage_runs} stage runs"
            + (f", error {result.error_code}" if result.error_code else ""),
        )
        return result.lecture_id if ok else None

    def read_services(self, lecture_id: str, label: str) -> LectureReadBack:
        read = read_lecture(self.staged, self.owner.user_id, lecture_id)
        readback_check(self.evidence, f"lecture read ({label})", read)
        if lecture_id not in self.first_read and read.ok:
            self.first_read[lecture_id] = read.checksums()
        return read

    def snapshot(self) -> Snapshot:
        return snapshot(self.staged.engine)


def run_migration_rollback(
    settings: Settings,
    options: DrillOptions,
    *,
    on_step: StepHook | None = None,
) -> DrillOutcome:
    """Run the drill on ``options.column`` and write its evidence; see the module doc."""
    evidence = Evidence(DRILL, options.column, options.command, on_step=on_step)
    evidence.notes.append(COVERAGE)
    staging = prepare_staging(settings, options)
    staged: StagedRuntime | None = None
    try:
        with evidence.step(
            "create staging",
            "A new empty database and store of the drill's own (never the deployment's).",
            "CREATE DATABASE pegasus_drill_<stamp>_source + S3 CreateBucket"
            if options.column == "scaled"
            else "mkdir STAGING_DIR (SQLite file + local store)",
        ) as step:
            record_servers(evidence, staging)
            target = staging.new_target("source")
            evidence.staging = describe_targets(staging, [target])
            step.data = evidence.staging
        staged = staged_runtime(target.settings)
        _run(evidence, staged, options)
    except StepFailed:
        pass  # recorded in its step
    except Exception as exc:
        stopped(evidence, exc)
    except BaseException:
        staging.close()  # interrupted: leave nothing behind, write no evidence
        raise
    finally:
        if staged is not None:
            staged.close()
    return finish(evidence, staging, options)


def _run(evidence: Evidence, staged: StagedRuntime, options: DrillOptions) -> None:
    url = staged.engine.url.render_as_string(hide_password=False)
    head, previous = _revisions(url)
    evidence.measurements.update({"head_revision": head, "previous_revision": previous})

    with evidence.step(
        "upgrade to head", "Migrate the empty staging database to head.", "pegasus db upgrade"
    ) as step:
        upgrade_database(staged.runtime)
        found = current_revision(staged.engine)
        step.data = {"revision": found}
        evidence.check("at head after upgrade", found == head, f"revision {found}, head {head}")

    with evidence.step(
        "seed",
        f"Process {options.lectures} lecture(s) from the bundled clip through the whole "
        "pipeline (ingest, transcribe, generate, export) in this process.",
        "create_user + create_course + create_lecture; StageRunner.run until no stage is queued",
    ) as step:
        owner = create_owner(staged, "Migration drill")
        drill = _Drill(evidence, staged, owner)
        titles = [f"Drill lecture {n}" for n in range(1, options.lectures + 1)]
        drill.processed = len(titles)
        seeded = process_lectures(staged, owner, titles)
        step.data = {"lectures": [vars(p) for p in seeded]}
        evidence.check(
            "seed lectures succeeded",
            all(p.status == "succeeded" for p in seeded),
            ", ".join(f"{p.lecture_id} {p.status}" for p in seeded),
        )
    lecture_ids = [p.lecture_id for p in seeded]

    with evidence.step(
        "smoke at head",
        "Read the first lecture through the lecture services (transcript, every export, every "
        "artifact's object against its checksum) and process a new lecture.",
        "read_transcript + export_file + object SHA-256; create_lecture + StageRunner.run",
    ) as step:
        read = drill.read_services(lecture_ids[0], "head")
        new = drill.process_one("head")
        if new is not None:
            lecture_ids.append(new)
            drill.read_services(new, "head, new lecture")
        step.data = {"read": read.to_dict()}

    before = drill.snapshot()
    with evidence.step(
        "downgrade one revision",
        f"Downgrade from {head} to {previous}; compare every table with the snapshot before.",
        f'pegasus.db.migrate.downgrade(engine, "{previous}")  (alembic downgrade {previous})',
    ) as step:
        downgrade(staged.engine, previous)
        found = current_revision(staged.engine)
        after = drill.snapshot()
        diff = compare(before, after)
        step.data = {"revision": found, "before": before.counts(), "comparison": diff.to_dict()}
        evidence.check(
            "at previous revision after downgrade", found == previous, f"revision {found}"
        )
        evidence.check("downgrade kept every row", diff.unchanged, diff.describe())
        evidence.check(
            "downgrade dropped no data",
            diff.rows_lost == 0,
            f"{diff.rows_lost} rows/values held by dropped tables or columns"
            + (f": {diff.dropped_tables} {diff.dropped_columns}" if diff.rows_lost else ""),
        )
    evidence.measurements["downgrade_seconds"] = round(step.seconds, 3)

    with evidence.step(
        "smoke at previous revision",
        "Read every lecture's row and artifact rows with plain SQL and check each stored "
        "object against its row. Probe (not counted): process a new lecture with the code at "
        "head on the older schema.",
        "SELECT ... FROM lectures, artifacts; object SHA-256; probe: create_lecture + runner",
    ) as step:
        reads = [read_lecture_rows(staged, lecture_id) for lecture_id in lecture_ids]
        evidence.check(
            "lectures read with SQL (previous revision)",
            all(r.ok for r in reads),
            "; ".join(r.summary() for r in reads),
        )
        step.data = {"reads": [r.to_dict() for r in reads]}
        try:
            drill.processed += 1
            (probe,) = process_lectures(staged, owner, ["Drill lecture (previous revision)"])
            probe_ok = probe.status == "succeeded"
            probe_detail = f"lecture {probe.lecture_id} {probe.status}"
            if probe_ok:
                lecture_ids.append(probe.lecture_id)
        except Exception as exc:
            probe_ok, probe_detail = False, f"{type(exc).__name__}: {exc}"
        evidence.check(
            "probe: code at head processes a lecture on the previous schema",
            probe_ok,
            probe_detail,
            required=False,
        )

    before = drill.snapshot()
    with evidence.step(
        "upgrade back to head",
        f"Upgrade from {previous} to {head}; compare every table with the snapshot before.",
        "pegasus db upgrade",
    ) as step:
        upgrade_database(staged.runtime)
        found = current_revision(staged.engine)
        after = drill.snapshot()
        diff = compare(before, after)
        step.data = {"revision": found, "before": before.counts(), "comparison": diff.to_dict()}
        evidence.check("at head after upgrade back", found == head, f"revision {found}")
        evidence.check("upgrade back kept every row", diff.unchanged, diff.describe())
        evidence.check(
            "upgrade back dropped no data", diff.rows_lost == 0, f"{diff.rows_lost} rows lost"
        )
    evidence.measurements["upgrade_seconds"] = round(step.seconds, 3)

    with evidence.step(
        "smoke at head again",
        "Read every lecture through the lecture services, each artifact's checksum equal to "
        "its first read; process a new lecture.",
        "read_transcript + export_file + object SHA-256; create_lecture + StageRunner.run",
    ) as step:
        reads = [drill.read_services(lecture_id, "head again") for lecture_id in lecture_ids]
        unchanged = [
            lecture_id
            for lecture_id, read in zip(lecture_ids, reads, strict=True)
            if drill.first_read.get(lecture_id, read.checksums()) == read.checksums()
        ]
        evidence.check(
            "no data lost: every lecture's objects unchanged since first read",
            len(unchanged) == len(lecture_ids) and all(r.ok for r in reads),
            f"{len(unchanged)} of {len(lecture_ids)} lectures with equal checksums "
            f"({sum(len(r.artifacts) for r in reads)} artifacts)",
        )
        new = drill.process_one("head again")
        step.data = {"reads": [r.to_dict() for r in reads], "new_lecture": new}
    final = drill.snapshot()
    evidence.measurements.update(
        {
            "lectures_processed": drill.processed,
            "rows_final": final.total_rows,
            "row_counts_final": final.counts(),
        }
    )
