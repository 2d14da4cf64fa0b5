"""The manifest: what an index holds and how it was made, as readable JSON.

It records the encoder (name, kind, spec to reload it, fingerprint of its
weights), the dimension, metric, FAISS index type and parameters (with the
recall they were tuned to, in `tuning`), how the last write that encoded
items ran (`build`: the local process, or Ray with how many workers; empty in
manifests written before it was recorded), the item count, the number of vector
rows (ids are rows; deleted ids leave holes) and how they are stored, the
number of tombstones (deleted ids an HNSW graph still holds), and when the
index was created and last written. `format_version` lets a newer
embedsearch refuse nothing it can read, and an older one refuse clearly what
it cannot.

Since format 2 it also records, at commit, the size and CRC-32 of every other
file of the version (`files`) and a CRC-32 of its own content (`checksum`):
`checksums.verify` checks them on open, so a truncated or garbled file is one
clear error instead of a crash inside FAISS or a silently wrong answer.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import IndexCorruptError
from .confine import regular_file

FORMAT_VERSION = 2
MANIFEST_FILE = "manifest.json"
MAX_MANIFEST_BYTES = 2**20  # a manifest is a few kilobytes; anything far larger is not one


@dataclass
class EncoderInfo:
    name: str
    kind: str
    spec: str
    fingerprint: str


@dataclass
class Manifest:
    encoder: EncoderInfo
    dim: int
    metric: str = "cosine"
    index_type: str = "flat"
    index_params: dict = field(default_factory=dict)
    count: int = 0
    rows: int = 0
    content: str = "corpus"
    vector_dtype: str = "float32"
    tombstones: int = 0
    tuning: dict = field(default_factory=dict)
    build: dict = field(default_factory=dict)  # how the last encoding write ran: {"engine": "ray", "workers": 2}
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    files: dict = field(default_factory=dict)  # file name -> {"bytes": size, "crc32": checksum}
    checksum: int | None = None  # CRC-32 of the manifest's other fields (format 2)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        content = {**asdict(self), "checksum": None, "format_version": FORMAT_VERSION}
        content["checksum"] = _checksum(content)
        return json.dumps(content, indent=2, sort_keys=True) + "\n"

    def write(self, directory: Path) -> None:
        (directory / MANIFEST_FILE).write_text(self.to_json())

    @classmethod
    def read(cls, directory: Path) -> "Manifest":
        path = regular_file(directory / MANIFEST_FILE)
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise IndexCorruptError(f"{path} is over {MAX_MANIFEST_BYTES:,} bytes, not a manifest; "
                                    "rebuild the index")
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise IndexCorruptError(f"{path} is missing; rebuild the index") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise IndexCorruptError(f"{path} is not valid JSON ({error}); rebuild the index") from None
        version = data.get("format_version") if isinstance(data, dict) else None
        if not isinstance(version, int):
            raise IndexCorruptError(f"{path} is not an embedsearch manifest")
        if version > FORMAT_VERSION:
            raise IndexCorruptError(
                f"{path} has format version {version}; this embedsearch reads up to "
                f"{FORMAT_VERSION}: upgrade embedsearch"
            )
        if version >= 2 and data.get("checksum") != _checksum({**data, "checksum": None}):
            raise IndexCorruptError(f"{path} does not match its checksum (garbled?); rebuild the index")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise IndexCorruptError(f"{path} has unknown fields: {', '.join(sorted(unknown))}")
        try:
            data["encoder"] = EncoderInfo(**data["encoder"])
            return cls(**data)
        except (TypeError, KeyError) as error:
            raise IndexCorruptError(f"{path} is incomplete ({error}); rebuild the index") from None


def _checksum(content: dict) -> int:
    return zlib.crc32(json.dumps(content, sort_keys=True).encode())
