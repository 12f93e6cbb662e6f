"""Segmented, resumable vspipe | ffmpeg encoding. Imports no torch."""
