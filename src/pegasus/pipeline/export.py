"""Export: render every format the preset asks for and store each one."""

from __future__ import annotations

from pegasus.exports import render_export
from pegasus.exports.formats import get_format
from pegasus.pipeline.base import ArtifactOut, StageContext, StageResult
from pegasus.pipeline.generate import KIT, KIT_NAME
from pegasus.pipeline.transcribe import TRANSCRIPT, TRANSCRIPT_NAME
from pegasus.studykit.schemas import StudyKit
from pegasus.transcription.schemas import Transcript


def export_kind(fmt: str) -> str:
    """The artifact kind of export format ``fmt``."""
    return f"export.{fmt}"


def export_name(extension: str) -> str:
    """The object name (in the lecture's prefix) of the export with file ``extension``."""
    return f"exports/lecture.{extension}"


class ExportStage:
    """Writes one ``export.<fmt>`` artifact per format of the preset."""

    name = "export"

    def run(self, ctx: StageContext) -> StageResult:
        transcript = ctx.read_json(TRANSCRIPT, TRANSCRIPT_NAME, Transcript)
        kit = ctx.read_json(KIT, KIT_NAME, StudyKit)
        artifacts: list[ArtifactOut] = []
        formats = ctx.preset.exports
        for index, key in enumerate(formats):
            fmt = get_format(key)
            ctx.report_progress(index / len(formats), f"Writing {fmt.extension.upper()}")
            data = render_export(
                key,
                title=ctx.title,
                transcript=transcript,
                kit=kit,
                deck_name=ctx.course_name,
                lecture_id=ctx.lecture_id,
            )
            kind = export_kind(key)
            stored = ctx.store.put_bytes(
                ctx.output_key(kind, export_name(fmt.extension)),
                data,
                content_type=fmt.content_type,
            )
            artifacts.append(ArtifactOut(kind=kind, stored=stored, content_type=fmt.content_type))
        ctx.report_progress(1.0, f"{len(artifacts)} files")
        return StageResult(artifacts=artifacts)
