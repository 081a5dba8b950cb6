"""The export-format registry: every format name has a renderer, and only those render."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import pytest

from pegasus.exports import render_export
from pegasus.exports.formats import EXPORT_FORMATS, build_registry
from pegasus.presets import EXPORT_KEYS, get_preset
from pegasus.studykit import generate_kit
from pegasus.transcription.schemas import Segment, Transcript

TRANSCRIPT = Transcript(
    language="en",
    duration_seconds=8.0,
    segments=[
        Segment(start=0.0, end=4.0, text="Photosynthesis is the process that makes sugar."),
        Segment(start=4.0, end=8.0, text="Chlorophyll is the pigment that absorbs light."),
    ],
)


def test_a_format_name_without_a_renderer_refuses_to_load() -> None:
    with pytest.raises(RuntimeError, match=r"without a renderer: \['docx'\]"):
        build_registry(EXPORT_FORMATS.values(), names=(*EXPORT_KEYS, "docx"))


def test_a_renderer_without_a_format_name_refuses_to_load() -> None:
    docx = dataclasses.replace(EXPORT_FORMATS["md"], key="docx", extension="docx")
    with pytest.raises(RuntimeError, match=r"without a name .*\['docx'\]"):
        build_registry([*EXPORT_FORMATS.values(), docx])


def test_the_registry_follows_the_order_of_the_names() -> None:
    shuffled = list(reversed(EXPORT_FORMATS.values()))
    assert list(build_registry(shuffled)) == list(EXPORT_KEYS)
    assert list(EXPORT_FORMATS) == list(EXPORT_KEYS)


@pytest.mark.parametrize("key", EXPORT_KEYS)
def test_every_format_name_renders(key: str) -> None:
    kit = generate_kit(TRANSCRIPT, get_preset("full-notes"))
    data = render_export(key, title="Light", transcript=TRANSCRIPT, kit=kit)
    assert data, key


def test_the_zip_holds_every_other_registered_format() -> None:
    data = render_export("zip", title="Light", transcript=TRANSCRIPT, kit=None)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert sorted(names) == sorted(
        f"Light.{fmt.extension}" for fmt in EXPORT_FORMATS.values() if fmt.key != "zip"
    )
