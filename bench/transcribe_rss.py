"""Benchmark: wall time and peak memory of ingest + transcription on a long lecture.

    python -m bench.transcribe_rss --minutes 30      (from the repository root)

Builds a speech recording of ``--minutes`` (a synthesized paragraph repeated, see
``pegasus_testkit/audio.py``; needs espeak-ng), then, in a fresh Python process, runs
``transcode_to_wav16k`` and ``Transcriber.transcribe`` over it exactly as the pipeline does and
measures that process's peak resident memory (``ru_maxrss``). Prints one JSON object on
stdout (the child's logs go to stderr) and exits 1 when the peak reaches ``--max-rss-mb``.
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

from pegasus.config import MediaSettings, TranscriptionSettings
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
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the recording")
    parser.add_argument(
        "--format", default="wav", help="upload format: wav, m4a, mp3, webm, ogg, flac, mp4"
    )
    parser.add_argument("--max-rss-mb", type=float, default=1024.0, help="fail at this peak")
    parser.add_argument("--window-seconds", type=float, default=None, help="transcription window")
    parser.add_argument("--batch-size", type=int, default=None, help="batched decoding size")
    parser.add_argument("--child", nargs=3, metavar=("SRC", "WORKDIR", "RESULT"), help="internal")
    args = parser.parse_args()
    if args.child:
        src, workdir, result = (Path(p) for p in args.child)
        overrides = {"window_seconds": args.window_seconds, "batch_size": args.batch_size}
        result.write_text(json.dumps(run_child(src, workdir, overrides)))
        return 0
    return run_parent(args)


def run_parent(args: argparse.Namespace) -> int:
    minutes: float = args.minutes
    fmt: str = args.format
    max_rss_mb: float = args.max_rss_mb
    with tempfile.TemporaryDirectory(prefix="pegasus-bench-") as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        wav = make_long_recording(workdir / "lecture.wav", minutes * 60, PARAGRAPH)
        upload = wav if fmt == "wav" else encode_wav(wav, workdir / f"lecture.{fmt}", fmt=fmt)
        prepare_seconds = time.monotonic() - started

        result_path = workdir / "result.json"
        command = [sys.executable, "-m", "bench.transcribe_rss", "--child"]
        command += [str(upload), str(workdir), str(result_path)]
        for option in ("window_seconds", "batch_size"):
            if getattr(args, option) is not None:
                command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
        started = time.monotonic()
        subprocess.run(command, check=True, stdout=sys.stderr, cwd=ROOT)
        child_wall = time.monotonic() - started
        child: dict[str, Any] = json.loads(result_path.read_text())
        upload_mb = upload.stat().st_size / 2**20

    audio = child["audio_seconds"]
    work = child["transcode_seconds"] + child["model_load_seconds"] + child["transcribe_seconds"]
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
        },
        "upload_format": fmt,
        "upload_mb": round(upload_mb, 1),
        "audio_seconds": round(audio, 1),
        "prepare_seconds": round(prepare_seconds, 1),
        **{k: v for k, v in child.items() if k != "audio_seconds"},
        "wall_seconds": round(work, 1),
        "child_process_wall_seconds": round(child_wall, 1),
        "real_time_factor": round(work / audio, 4),
        "times_real_time": round(audio / work, 1),
        "max_rss_mb": max_rss_mb,
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    if child["peak_rss_mb"] >= max_rss_mb:
        sys.stderr.write(f"FAIL: peak RSS {child['peak_rss_mb']} MB >= {max_rss_mb} MB\n")
        return 1
    return 0


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
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "audio_seconds": audio_seconds,
        "transcode_seconds": round(transcoded - started, 1),
        "model_load_seconds": round(loaded - transcoded, 1),
        "transcribe_seconds": round(done - loaded, 1),
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
