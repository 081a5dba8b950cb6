"""Speech to text: the transcript schema and the faster-whisper transcriber."""
