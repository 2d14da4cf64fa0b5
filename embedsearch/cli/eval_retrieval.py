"""Placeholder module: filled by its owner; registers commands on import."""
