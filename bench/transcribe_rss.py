"""Benchmark: wall time and peak memory of ingest + transcription on long lectures.

    python -m bench.transcribe_rss --minutes 30 180 --mode fast accurate   (repository root)

For each ``--minutes`` it builds a speech recording of that length (a synthesized paragraph
repeated, see ``pegasus_testkit/audio.py``; needs espeak-ng); then for each ``--mode`` a
fresh Python process runs ``transcode_to_wav16k`` and ``Transcriber.transcribe`` over it
exactly as the pipeline does, with ``--model``, and measures that process's peak resident
memory (``ru_maxrss``) and CPU time. Prints one JSON object per run on stdout (the child's
logs go to stderr), then a table. Exits 1 when a peak reaches ``--max-rss-mb``, or when a
mode's peak on the longest recording is more than ``--max-growth-mb`` above its peak on the
shortest: memory must stay flat in the recording's length.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pegasus.config import TRANSCRIPTION_MODES, MediaSettings, TranscriptionSettings
from pegasus_testkit.audio import encode_wav, make_long_recording

#: The repository root: the child runs `python -m bench.transcribe_rss` from here.
ROOT = Path(__file__).resolve().parent.parent

PARAGRAPH = (
    "Today we look at photosynthesis. Plants capture light energy with chlorophyll and use "
    "it to split water into oxygen and hydrogen. The energy is stored as chemical energy in "
    "molecules of glucose, which the plant later burns in respiration. Remember the "
    "difference: photosynthesis builds sugar and releases oxygen, respiration breaks sugar "
    "down and releases carbon dioxide. For the exam, be able to write both equations and "
    "explain where each one happens inside the cell."
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add = parser.add_argument
    add("--minutes", type=float, nargs="+", default=[30.0], help="recording lengths")
    add("--mode", nargs="+", default=None, choices=TRANSCRIPTION_MODES, help="modes to run")
    add("--model", default=None, help="speech model: tiny.en, base or a model directory")
    add("--format", default="wav", help="upload format: wav, m4a, mp3, webm, ogg, flac, mp4")
    add("--max-rss-mb", type=float, default=1024.0, help="fail at this peak")
    add(
        "--max-growth-mb",
        type=float,
        default=64.0,
        help="fail when a mode's peak grows more than this from the shortest to the longest",
    )
    add("--window-seconds", type=float, default=None, help="transcription window")
    add("--batch-size", type=int, default=None, help="batched decoding size")
    add("--child", nargs=3, metavar=("SRC", "WORKDIR", "RESULT"), help="internal")
    args = parser.parse_args()
    overrides = {
        "window_seconds": args.window_seconds,
        "batch_size": args.batch_size,
        "model": args.model,
        "mode": args.mode[0] if args.child and args.mode else None,
    }
    if args.child:
        src, workdir, result = (Path(p) for p in args.child)
        result.write_text(json.dumps(run_child(src, workdir, overrides)))
        return 0
    return run_parent(args)


def run_parent(args: argparse.Namespace) -> int:
    modes: list[str] = args.mode or [TranscriptionSettings().mode]
    reports: list[dict[str, Any]] = []
    for minutes in sorted(args.minutes):
        with tempfile.TemporaryDirectory(prefix="pegasus-bench-") as tmp:
            workdir = Path(tmp)
            started = time.monotonic()
            wav = make_long_recording(workdir / "lecture.wav", minutes * 60, PARAGRAPH)
            upload = (
                wav
                if args.format == "wav"
                else encode_wav(wav, workdir / f"lecture.{args.format}", fmt=args.format)
            )
            prepare_seconds = time.monotonic() - started
            for mode in modes:
                report = run_one(args, upload, workdir, mode)
                report["prepare_seconds"] = round(prepare_seconds, 1)
                sys.stdout.write(json.dumps(report, indent=2) + "\n")
                sys.stdout.flush()
                reports.append(report)
    sys.stdout.write("\n" + summary(reports))
    failures = problems(reports, args.max_rss_mb, args.max_growth_mb)
    for failure in failures:
        sys.stderr.write(f"FAIL: {failure}\n")
    return 1 if failures else 0


def run_one(args: argparse.Namespace, upload: Path, workdir: Path, mode: str) -> dict[str, Any]:
    """One fresh child process transcribing ``upload`` in ``mode``; its report."""
    result_path = workdir / "result.json"
    command = [sys.executable, "-m", "bench.transcribe_rss", "--child"]
    command += [str(upload), str(workdir), str(result_path), "--mode", mode]
    for option in ("window_seconds", "batch_size", "model"):
        if getattr(args, option) is not None:
            command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=sys.stderr, cwd=ROOT)
    child_wall = time.monotonic() - started
    child: dict[str, Any] = json.loads(result_path.read_text())
    audio = child["audio_seconds"]
    work = child["transcode_seconds"] + child["model_load_seconds"] + child["transcribe_seconds"]
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "mode": mode,
        "upload_format": args.format,
        "upload_mb": round(upload.stat().st_size / 2**20, 1),
        "audio_seconds": round(audio, 1),
        **{k: v for k, v in child.items() if k != "audio_seconds"},
        "wall_seconds": round(work, 1),
        "child_process_wall_seconds": round(child_wall, 1),
        "real_time_factor": round(work / audio, 4),
        "times_real_time": round(audio / work, 1),
        "minutes_per_hour_of_audio": round(60 * work / audio, 2),
        "max_rss_mb": args.max_rss_mb,
    }


def summary(reports: list[dict[str, Any]]) -> str:
    """A Markdown table: one row per run."""
    rows = [
        "| mode | audio | transcribe | wall | CPU | min per hour | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        rows.append(
            f"| {r['mode']} | {r['audio_seconds'] / 60:.0f} min | {r['transcribe_seconds']} s "
            f"| {r['wall_seconds']} s | {r['cpu_seconds']} s | {r['minutes_per_hour_of_audio']} "
            f"| {r['peak_rss_mb']} MB |"
        )
    return "\n".join(rows) + "\n"


def problems(reports: list[dict[str, Any]], max_rss_mb: float, max_growth_mb: float) -> list[str]:
    """Peaks at or over the limit, and modes whose peak grows with the recording's length."""
    found = [
        f"{r['mode']}, {r['audio_seconds']} s: peak RSS {r['peak_rss_mb']} MB >= {max_rss_mb} MB"
        for r in reports
        if r["peak_rss_mb"] >= max_rss_mb
    ]
    for mode in dict.fromkeys(r["mode"] for r in reports):
        runs = sorted((r for r in reports if r["mode"] == mode), key=lambda r: r["audio_seconds"])
        growth = runs[-1]["peak_rss_mb"] - runs[0]["peak_rss_mb"]
        if len(runs) > 1 and growth > max_growth_mb:
            found.append(
                f"{mode}: peak RSS grew {growth:.0f} MB from {runs[0]['audio_seconds']} s to "
                f"{runs[-1]['audio_seconds']} s of audio (limit {max_growth_mb} MB)"
            )
    return found


def run_child(src: Path, workdir: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The measured work, in a process of its own so ru_maxrss is only this."""
    from pegasus.media.transcode import transcode_to_wav16k
    from pegasus.transcription.transcriber import Transcriber

    settings = TranscriptionSettings.model_validate(
        {k: v for k, v in overrides.items() if v is not None}
    )

    started = time.monotonic()
    wav = workdir / "audio-16k.wav"
    audio_seconds = transcode_to_wav16k(
        src, wav, max_duration_seconds=MediaSettings().max_duration_seconds
    )
    transcoded = time.monotonic()
    transcriber = Transcriber(settings)
    loaded = time.monotonic()
    transcript = transcriber.transcribe(wav)
    done = time.monotonic()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss  # KiB on Linux
    return {
        "audio_seconds": audio_seconds,
        "transcode_seconds": round(transcoded - started, 1),
        "model_load_seconds": round(loaded - transcoded, 1),
        "transcribe_seconds": round(done - loaded, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "recognizer": transcript.recognizer.model_dump() if transcript.recognizer else None,
        "segments": len(transcript.segments),
        "words": sum(len(s.words) for s in transcript.segments),
        "settings": settings.model_dump(mode="json"),
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
