"""What indexes there are and what each holds: the listing and the info every interface shows.

`embedsearch list` / `info` and the HTTP API's `GET /indexes` and
`GET /indexes/{name}` call these, so the three never disagree.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from ..errors import EmbedsearchError
from .compaction import compaction_due
from .paths import indexes_home
from .reader import Index


def iso_time(seconds: float) -> str:
    """A Unix time as ISO 8601 in UTC, to the second: 2026-12-02T14:26:11Z."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def index_info(index: Index) -> dict:
    """The manifest of an open index, with its path, live version, size and upkeep state."""
    info = asdict(index.manifest)
    info["name"] = index.name
    info["path"] = str(index.directory)
    info["version"] = index.version_dir.name
    info["size_bytes"] = sum(f.stat().st_size for f in index.version_dir.rglob("*") if f.is_file())
    info["compaction_due"] = compaction_due(index.manifest)
    info["created_at"] = iso_time(index.manifest.created_at)
    info["updated_at"] = iso_time(index.manifest.updated_at)
    return info


def list_indexes(home: str | Path | None = None) -> list[dict]:
    """One entry per folder under `home` (default: the indexes home), sorted by name.

    A folder that cannot be opened as an index is listed with its `error`
    rather than hidden, so a damaged index is noticed.
    """
    home = Path(home) if home is not None else indexes_home()
    directories = sorted(p for p in home.glob("*") if p.is_dir()) if home.is_dir() else []
    return [index_entry(directory) for directory in directories]


def index_entry(directory: Path) -> dict:
    """One line of the listing: name, count, dim, content, encoder, type, update time (or error)."""
    try:
        with Index.open(directory) as opened:
            manifest = opened.manifest
            return {"name": directory.name, "count": manifest.count, "dim": manifest.dim,
                    "content": manifest.content, "encoder": manifest.encoder.name,
                    "index_type": manifest.index_type,
                    "updated_at": iso_time(manifest.updated_at)}
    except EmbedsearchError as error:
        return {"name": directory.name, "error": str(error)}
