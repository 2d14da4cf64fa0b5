"""Sizes and CRC-32s of a version's files: recorded at commit, checked on open.

A version's files can be truncated (a full disk, a copy cut short) or garbled
(a bad disk, a stray write) after they were published. Handing such a file to
FAISS can crash the process (it trusts the sizes in its own headers), and a
garbled vector or SQLite file can answer wrongly without any error. So commit
records each file's size and CRC-32 in the manifest, and `verify` reads them
back before anything else touches the files: one `IndexCorruptError` naming
the file. Reading the files also brings them into the page cache, which the
first queries then find warm.

>>> manifest.files = record(version_dir)                 # doctest: +SKIP
>>> verify(version_dir, manifest.files)                  # doctest: +SKIP
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from isal.isal_zlib import crc32

from ..errors import IndexCorruptError
from .confine import version_file
from .manifest import MANIFEST_FILE

BLOCK = 2**20  # bytes read at a time, into one reused buffer


def crc32_of(path: Path) -> int:
    """The CRC-32 of a file (zlib's checksum, computed by ISA-L's faster code), read in blocks.

    >>> import zlib
    >>> crc32_of(Path(__file__)) == zlib.crc32(Path(__file__).read_bytes())
    True
    """
    checksum = 0
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            checksum = crc32(view[:size], checksum)
    return checksum


def record(version_dir: Path) -> dict:
    """{file name: {"bytes": size, "crc32": checksum}} for every file but the manifest."""
    files = sorted(p for p in version_dir.iterdir() if p.is_file() and p.name != MANIFEST_FILE)
    with ThreadPoolExecutor(4) as pool:
        checksums = list(pool.map(crc32_of, files))
    return {path.name: {"bytes": path.stat().st_size, "crc32": checksum}
            for path, checksum in zip(files, checksums)}


def verify(version_dir: Path, files: dict, required: tuple[str, ...]) -> None:
    """An IndexCorruptError unless every recorded file (and each `required` one) is intact.

    Each is first confined to the version folder (`confine`): a tampered manifest
    cannot make this read another file, or a device that never ends.
    """
    for name in required:
        version_file(version_dir, name)
    if not files:  # a format 1 manifest records none: only the structural checks apply
        return
    if not isinstance(files, dict):
        raise IndexCorruptError(f"{version_dir / MANIFEST_FILE}: `files` is not a mapping; "
                                "rebuild the index")
    for name in required:
        if name not in files:
            raise IndexCorruptError(f"{version_dir / MANIFEST_FILE} does not record {name}; "
                                    "rebuild the index")
    paths = {}
    for name, expected in files.items():
        path = paths[name] = version_file(version_dir, name)
        if not (isinstance(expected, dict) and _is_count(expected.get("bytes"))
                and _is_count(expected.get("crc32"))):
            raise IndexCorruptError(f"{version_dir / MANIFEST_FILE} records no valid size and "
                                    f"checksum for {name}; rebuild the index")
        size = path.stat().st_size
        if size != expected["bytes"]:
            raise IndexCorruptError(f"{path} holds {size:,} bytes, {expected['bytes']:,} were "
                                    "written (truncated?); rebuild the index")
    with ThreadPoolExecutor(4) as pool:
        checksums = dict(zip(files, pool.map(crc32_of, paths.values())))
    for name, expected in files.items():
        if checksums[name] != expected["crc32"]:
            raise IndexCorruptError(f"{version_dir / name} does not match its checksum "
                                    "(garbled?); rebuild the index")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
