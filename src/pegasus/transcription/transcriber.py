"""Speech to text with faster-whisper, a window at a time, in one of two modes.

The 16 kHz WAV from ``transcode_to_wav16k`` is read in windows of about
``TranscriptionSettings.window_seconds`` (5 minutes by default), so memory is bounded by one
window however long the lecture. Each window ends in the middle of the quietest 200 ms of
its last 10 seconds (``quiet_cut``), so a word is not cut in two at a window boundary; the
rest of the window is carried into the next one. Within a window:

- ``accurate`` decodes the speech sequentially (``WhisperModel.transcribe``, VAD on, beam
  search, no conditioning on previous text): the same words bare faster-whisper gives;
- ``fast`` decodes the VAD chunks in batches (``BatchedInferencePipeline``): 1.1 to 1.8x
  faster on two cores, but it drops whole lines of speech (docs/quality.md,
  docs/benchmarks.md).

Times are shifted by the window's offset so every segment and word time is absolute.

Nothing is ever downloaded: the model is found by name or directory by
``pegasus.transcription.models.resolve_model_dir``.
"""

from __future__ import annotations

import ctypes
import string
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import structlog

from pegasus.config import TranscriptionMode, TranscriptionSettings
from pegasus.errors import ModelUnavailableError, TranscriptionError
from pegasus.media.probe import format_duration
from pegasus.media.transcode import SAMPLE_RATE
from pegasus.media.windows import AudioWindow, iter_windows, wav_duration
from pegasus.transcription.models import resolve_model_dir
from pegasus.transcription.schemas import Recognizer, Segment, Transcript, Word

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_MIN_REPEATS: Final = 3
_MAX_COLLAPSE_PASSES: Final = 5
_PUNCTUATION: Final = string.punctuation + "\u201c\u201d\u2018\u2019\u2026\u00ab\u00bb\u00bf\u00a1"
#: A window ends in the middle of its quietest ``QUIET_STRETCH_SECONDS`` (measured in frames
#: of ``QUIET_FRAME_SECONDS``) within its last ``QUIET_SEARCH_SECONDS``.
QUIET_FRAME_SECONDS: Final = 0.02
QUIET_STRETCH_SECONDS: Final = 0.2
QUIET_SEARCH_SECONDS: Final = 10.0
#: glibc's ``mallopt`` parameter number of M_MMAP_THRESHOLD, and the value Pegasus sets.
_M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD_BYTES: Final = 4 * 1024 * 1024

log = structlog.get_logger(__name__)

ProgressCallback = Callable[[float, str], None]


class Transcriber:
    """A loaded speech model; build one per worker process and reuse it for every lecture
    (and from several threads: the model is shared and thread-safe).

    ``model_name`` is the model as configured (``tiny.en``, ``base`` or a directory),
    ``model_dir`` the directory it was loaded from."""

    def __init__(self, settings: TranscriptionSettings) -> None:
        self.settings = settings
        self.model_name = settings.model
        self.model_dir = resolve_model_dir(settings.model, settings.data_dir)
        _limit_mmap_threshold()
        # Imported here: faster_whisper loads CTranslate2 and onnxruntime, which processes
        # that never transcribe (the web server) should not pay for.
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        try:
            self._model: Any = WhisperModel(
                str(self.model_dir),
                device="cpu",
                compute_type=settings.compute_type,
                cpu_threads=settings.cpu_threads,
                local_files_only=True,
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError, ValueError, OSError...
            raise ModelUnavailableError(
                f"The speech model in {self.model_dir} could not be loaded ({exc}). Check "
                "that it is a CTranslate2 Whisper model and that compute type "
                f"{settings.compute_type!r} suits this CPU.",
                model=self.model_name,
                model_path=str(self.model_dir),
            ) from exc
        self._pipeline_class: Any = BatchedInferencePipeline
        self.multilingual: bool = bool(self._model.model.is_multilingual)

    def recognizer(self, mode: TranscriptionMode | None = None) -> Recognizer:
        """What a transcript made in ``mode`` (None: the settings' mode) records."""
        return Recognizer(
            model=self.model_name,
            mode=mode or self.settings.mode,
            beam_size=self.settings.beam_size,
            compute_type=self.settings.compute_type,
        )

    def transcribe(
        self,
        wav_path: Path,
        *,
        hotwords: str | None = None,
        on_progress: ProgressCallback | None = None,
        mode: TranscriptionMode | None = None,
    ) -> Transcript:
        """Transcribe a 16 kHz mono WAV into segments with absolute word times.

        ``hotwords`` (course vocabulary) biases recognition. ``on_progress`` receives the
        fraction done and a sentence such as ``"Transcribed 5:00 of 30:00"``, after each window
        and as segments arrive within one. ``mode`` (a course's or preset's choice) overrides
        the settings' mode for this call; the transcript records the one used.
        """
        recognizer = self.recognizer(mode)
        total = wav_duration(wav_path)
        # English-only models are told so; multilingual ones detect the language in the first
        # window with speech and keep it for the rest, so windows do not disagree.
        language: str | None = None if self.multilingual else "en"
        progress = _Progress(total, on_progress)
        # One batched pipeline per call: it keeps per-recording state, while the model it
        # wraps is shared and safe to use from several worker threads.
        decoder = self._pipeline_class(self._model) if recognizer.mode == "fast" else self._model
        segments: list[Segment] = []
        for window in quiet_cut(iter_windows(wav_path, self.settings.window_seconds)):
            started = time.monotonic()
            try:
                found, detected = self._transcribe_window(
                    decoder, recognizer.mode, window, language, hotwords, progress
                )
            except (RuntimeError, ValueError) as exc:  # CTranslate2 and onnxruntime failures
                raise TranscriptionError(
                    "Speech recognition failed at "
                    f"{format_duration(window.offset_seconds)} of {format_duration(total)}. "
                    "Retry the lecture; if it fails again, report it to the server's admin.",
                    offset_seconds=window.offset_seconds,
                    detail=str(exc),
                ) from exc
            segments.extend(found)
            if language is None and found:
                language = detected
            progress.report(window.offset_seconds + window.duration_seconds)
            _release_freed_memory()
            log.info(
                "transcription.window.finished",
                mode=recognizer.mode,
                offset_seconds=window.offset_seconds,
                audio_seconds=round(window.duration_seconds, 3),
                segments=len(found),
                wall_seconds=round(time.monotonic() - started, 3),
            )
        return Transcript(
            language=language or "en",
            duration_seconds=total,
            segments=merge_repeated_segments(segments),
            recognizer=recognizer,
        )

    def _transcribe_window(
        self,
        decoder: Any,
        mode: TranscriptionMode,
        window: AudioWindow,
        language: str | None,
        hotwords: str | None,
        progress: _Progress,
    ) -> tuple[list[Segment], str]:
        options: dict[str, Any] = {
            "language": language,
            "beam_size": self.settings.beam_size,
            "vad_filter": True,
            "condition_on_previous_text": False,
            "word_timestamps": True,
            "hotwords": hotwords or None,
        }
        if mode == "fast":
            # The batched default (no timestamp tokens) decodes each VAD chunk as a single
            # segment and tiny.en then often stops after the first sentence, dropping the
            # rest of the chunk; with timestamp tokens every sentence is decoded.
            options.update(batch_size=self.settings.batch_size, without_timestamps=False)
        raw_segments, info = decoder.transcribe(window.samples, **options)
        start = window.offset_seconds
        end = start + window.duration_seconds

        def place(seconds: float) -> float:
            # Whisper's times may overshoot the audio it was given by a few milliseconds.
            return min(max(start + float(seconds), start), end)

        found: list[Segment] = []
        for raw in raw_segments:  # a generator: decoding happens as we iterate
            words = [
                Word(start=place(w.start), end=place(w.end), word=w.word) for w in (raw.words or [])
            ]
            words = collapse_repeated_words(words)
            text = collapse_repeats(raw.text.strip())
            if not text:
                continue
            found.append(
                Segment(start=place(raw.start), end=place(raw.end), text=text, words=words)
            )
            progress.report(found[-1].end)
        return found, str(info.language)


def quietest_cut(samples: npt.NDArray[np.float32]) -> int:
    """Where to end a window: in the middle of its quietest ``QUIET_STRETCH_SECONDS`` (the
    least mean square of ``QUIET_FRAME_SECONDS`` frames) within its last
    ``QUIET_SEARCH_SECONDS``, or its last half when shorter. A stretch rather than a single
    frame, so the cut falls in a pause between words, not in the closure of a "p" inside
    one. Frames are counted back from the end; among equally quiet stretches the latest
    wins, and a window whose quietest stretch is its end is kept whole (silence is not cut).
    """
    import numpy as np

    frame = max(1, round(QUIET_FRAME_SECONDS * SAMPLE_RATE))
    span = min(round(QUIET_SEARCH_SECONDS * SAMPLE_RATE), len(samples) // 2)
    frames = span // frame
    if frames == 0:
        return len(samples)
    tail = samples[len(samples) - frames * frame :].reshape(frames, frame)
    energy = np.square(tail, dtype=np.float64).mean(axis=1)
    stretch = max(1, min(round(QUIET_STRETCH_SECONDS / QUIET_FRAME_SECONDS), frames))
    loudness = np.convolve(energy, np.ones(stretch) / stretch, mode="valid")
    latest = len(loudness) - 1 - int(np.argmin(loudness[::-1]))
    if latest == len(loudness) - 1:
        return len(samples)
    return len(samples) - (frames - latest - stretch // 2 - 1) * frame


def quiet_cut(windows: Iterable[AudioWindow]) -> Iterator[AudioWindow]:
    """``windows`` again, each but the last ending at its ``quietest_cut``; what follows the
    cut is carried to the front of the next window. A window grows by at most
    ``QUIET_SEARCH_SECONDS``, so memory stays bounded by one window."""
    import numpy as np

    pending = iter(windows)
    current = next(pending, None)
    carried: AudioWindow | None = None
    while current is not None:
        following = next(pending, None)
        if carried is not None:
            current = AudioWindow(
                carried.offset_seconds, np.concatenate([carried.samples, current.samples])
            )
            carried = None
        if following is not None:
            cut = quietest_cut(current.samples)
            if cut < len(current.samples):
                carried = AudioWindow(
                    current.offset_seconds + cut / SAMPLE_RATE, current.samples[cut:]
                )
                current = AudioWindow(current.offset_seconds, current.samples[:cut])
        yield current
        current = following


@lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    return libc


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the OS between windows.

    Decoding a window allocates a few hundred MB of short-lived buffers (encoder attention,
    about 70 MB per batch item) from several threads; glibc keeps what they free, so without
    this the next window's peak stacks on the last one's leftovers and RSS creeps up by
    window. Measured on a 30-minute lecture: 1052 MB peak without, see docs/benchmarks.md.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@lru_cache(maxsize=1)
def _limit_mmap_threshold() -> None:
    """Serve every allocation of ``MMAP_THRESHOLD_BYTES`` or more with its own mapping, for
    the whole process (once).

    glibc raises its mmap threshold each time a large mapped block is freed (up to 32 MB),
    so after the first window the next windows' large decoding buffers come from the
    threads' heaps, where freed memory fragments and ``malloc_trim`` cannot return all of
    it: in ``fast`` mode RSS crept up window by window. With a fixed threshold such buffers
    are unmapped when freed (docs/benchmarks.md)."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


class _Progress:
    """Forwards non-decreasing progress with a readable sentence to an optional callback."""

    def __init__(self, total: float, callback: ProgressCallback | None) -> None:
        self.total = total
        self.callback = callback
        self.done = 0.0

    def report(self, seconds_done: float) -> None:
        if self.callback is None or seconds_done < self.done:
            return
        self.done = min(seconds_done, self.total)
        fraction = self.done / self.total if self.total > 0 else 1.0
        self.callback(
            fraction,
            f"Transcribed {format_duration(self.done)} of {format_duration(self.total)}",
        )


def _normalize(token: str) -> str:
    return token.strip().strip(_PUNCTUATION).lower()


def _collapse_plan(keys: Sequence[str]) -> list[tuple[int, int]]:
    """How to rebuild ``keys`` so that no n-gram repeats 3+ times in a row.

    Each entry is ``(item, tail)``: keep ``item``, finishing it with ``tail``'s trailing
    punctuation (and for words, its end time). A run is reduced to its first occurrence whose
    last item takes its tail from the run's last occurrence; elsewhere ``tail == item``.
    Repeats until nothing changes, since collapsing can reveal a new run.
    """
    plan = [(i, i) for i in range(len(keys))]
    for _ in range(_MAX_COLLAPSE_PASSES):
        step = _collapse_once([keys[item] for item, _ in plan])
        if len(step) == len(plan):
            break
        plan = [(plan[item][0], plan[tail][1]) for item, tail in step]
    return plan


def _collapse_once(keys: Sequence[str]) -> list[tuple[int, int]]:
    plan: list[tuple[int, int]] = []
    i = 0
    while i < len(keys):
        run_end = None
        for n in range(1, (len(keys) - i) // _MIN_REPEATS + 1):
            unit = keys[i : i + n]
            if not any(unit):
                continue
            repeats = 1
            while keys[i + repeats * n : i + (repeats + 1) * n] == unit:
                repeats += 1
            if repeats >= _MIN_REPEATS:
                run_end = i + repeats * n
                plan.extend((k, k) for k in range(i, i + n - 1))
                plan.append((i + n - 1, run_end - 1))
                break
        if run_end is None:
            plan.append((i, i))
            i += 1
        else:
            i = run_end
    return plan


def _with_tail(token: str, tail: str) -> str:
    """``token`` with its trailing punctuation replaced by ``tail``'s."""
    core = token.rstrip(_PUNCTUATION)
    return core + tail[len(tail.rstrip(_PUNCTUATION)) :]


def collapse_repeats(text: str) -> str:
    """Reduce any phrase repeated 3+ times in a row to one occurrence (a Whisper loop).

    Comparison ignores case and punctuation: ``"Thank you. Thank you. Thank you."`` becomes
    ``"Thank you."``. Whitespace is normalised to single spaces.
    """
    tokens = text.split()
    plan = _collapse_plan([_normalize(t) for t in tokens])
    return " ".join(_with_tail(tokens[item], tokens[tail]) for item, tail in plan)


def collapse_repeated_words(words: Sequence[Word]) -> list[Word]:
    """``collapse_repeats`` for timed words: a collapsed run spans the whole run's time."""
    plan = _collapse_plan([_normalize(w.word) for w in words])
    return [
        words[item]
        if item == tail
        else Word(
            start=words[item].start,
            end=words[tail].end,
            word=_with_tail(words[item].word, words[tail].word),
        )
        for item, tail in plan
    ]


def merge_repeated_segments(segments: Iterable[Segment]) -> list[Segment]:
    """Merge consecutive segments that say the very same thing into the first, stretched."""
    merged: list[Segment] = []
    for segment in segments:
        if merged and _normalize_text(merged[-1].text) == _normalize_text(segment.text):
            merged[-1] = merged[-1].model_copy(update={"end": max(merged[-1].end, segment.end)})
        else:
            merged.append(segment)
    return merged


def _normalize_text(text: str) -> str:
    return " ".join(key for key in (_normalize(t) for t in text.split()) if key)
