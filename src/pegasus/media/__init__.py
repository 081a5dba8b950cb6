"""Reading learners' recordings: probe what a file is, decode it to 16 kHz WAV, window it."""
