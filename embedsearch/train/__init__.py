"""Trainers: one module per encoder, each rebuilding it from a corpus."""
