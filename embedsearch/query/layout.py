"""The whole-index map: a 2-D position for every live item, computed once per index version.

The explorer draws every item of an index of up to `SHOWN` items, and the
`SHOWN` most important of a larger one (a vocabulary's first rows, its most
frequent words; a seeded random sample of a corpus), fetching the rest by
region as the user zooms in. Two methods, one module each: PCA (`layout_pca`,
the fast default, always there), fitted on a seeded sample of at most
`FIT_SAMPLE` vectors, and UMAP (`layout_umap`, when umap-learn is installed),
fitted on the `FIT_SAMPLE` most important items (a vocabulary's most frequent
words: the neighbourhoods people look at). Each then places every vector, so
any query vector (a free text too) can be put on the same map. Coordinates are scaled so that the central 99 % of points span
[-0.9, 0.9] (the scatter library's device coordinates); beyond that they are
squeezed smoothly into [-1, 1], so outliers keep their order instead of piling
up in a wall at the edge.

A layout is saved as `.maps/<version>.<method>.npz` in the index folder, beside
its versions and never inside one (a version's files are checksummed), keyed by
the version's name and manifest checksum; an older version's layouts are
removed when a newer one is saved. A read-only index keeps its layout in memory
only. UMAP runs in a child process (`compute_layout_apart`): numba holds the
GIL, and a server computing a layout must keep answering queries.

    layout = index_layout(index)          # PCA
    layout = index_layout(index, "umap")
    layout.coordinates.shape, layout.item_ids[:3]
    # ((20000, 2), array([0, 1, 2]))
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from ..index import Index
from .layout_pca import PcaProjection
from .layout_umap import UmapProjection, umap_installed

PROJECTIONS = {"pca": PcaProjection, "umap": UmapProjection}
DEFAULT_METHOD = "pca"
FORMAT = 3  # of the saved file: a layout saved by another format is computed again
FIT_SAMPLE = 20_000
SHOWN = 100_000
SEED = 0
MAPS_FOLDER = ".maps"
PROJECT_BATCH = 10_000  # rows per step: short steps, so queries interleave with the computation
KNEE = 0.9  # the central points' half-width on the map; outliers are squeezed beyond it


def available_methods() -> list[str]:
    """The methods this installation can compute: PCA always, UMAP with umap-learn."""
    return [DEFAULT_METHOD] + (["umap"] if umap_installed() else [])


def check_method(method: str) -> str:
    if method not in PROJECTIONS:
        raise InputError(f"unknown map method {method!r}: use " + " or ".join(PROJECTIONS))
    if method not in available_methods():
        raise InputError(f"this installation cannot compute a {method} map: "
                         f"pip install 'embedsearch[server]' (umap-learn), or use pca")
    return method


@dataclass
class Layout:
    """Every live item's map position, rows in order of importance (most important first).

    `projection` places any unit vector in the method's own coordinates; `scale`
    and `offset` turn those into the map's [-1, 1] square.
    """

    item_ids: np.ndarray  # (n,) int64
    coordinates: np.ndarray  # (n, 2) float32, in [-1, 1]
    projection: PcaProjection | UmapProjection
    offset: np.ndarray  # (2,)
    scale: float
    fingerprint: str

    @property
    def method(self) -> str:
        return self.projection.method

    @property
    def count(self) -> int:
        return len(self.item_ids)

    @property
    def shown(self) -> int:
        """How many rows the explorer draws up front; the rest come by region."""
        return min(self.count, SHOWN)

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """(n, dim) unit vectors -> (n, 2) map positions."""
        return squeeze((self.projection.raw(vectors) - self.offset) * self.scale)

    def rows_in(self, x0: float, x1: float, y0: float, y1: float, *, start: int,
                limit: int) -> np.ndarray:
        """Row numbers from `start` on whose point lies in the box, most important first."""
        tail = self.coordinates[start:]
        inside = ((tail[:, 0] >= x0) & (tail[:, 0] <= x1) & (tail[:, 1] >= y0) & (tail[:, 1] <= y1))
        return np.flatnonzero(inside)[:limit] + start


def fingerprint(index: Index) -> str:
    """What identifies the index's live version: its folder name and manifest checksum."""
    return f"{index.version_dir.name}-{index.manifest.checksum}"


def importance_order(index: Index) -> np.ndarray:
    """Live item ids, most important first: a vocabulary's own order (GloVe and word2vec
    files list words by frequency); a seeded shuffle of a corpus's items."""
    if index.tombstones is None and index.count == index.manifest.rows:
        ids = np.arange(index.manifest.rows, dtype=np.int64)
    else:
        ids = np.sort(index.ids_where("1")).astype(np.int64)
    if index.manifest.content != "vocabulary":
        ids = np.random.default_rng(SEED).permutation(ids)
    return ids


def compute_layout(index: Index, method: str = DEFAULT_METHOD,
                   report: Callable[[float], None] = lambda done: None, *,
                   fit_sample: int = FIT_SAMPLE) -> Layout:
    """Fit the method on a seeded sample, place every live item; `report` gets the fraction
    done."""
    item_ids = importance_order(index)
    if method == "pca":  # the directions of widest spread, over the whole index
        rng = np.random.default_rng(SEED)
        fit_ids = np.sort(rng.choice(item_ids, min(fit_sample, len(item_ids)), replace=False)) \
            if len(item_ids) else item_ids
    else:  # the neighbourhoods of the items people look at: a vocabulary's frequent words
        fit_ids = np.sort(item_ids[:fit_sample])
    sample = index.vectors_of(fit_ids) if len(fit_ids) else np.zeros((0, index.dim), np.float32)
    report(0.05)
    projection = PcaProjection.fit(sample) if method == "pca" else \
        PROJECTIONS[check_method(method)].fit(fit_ids, sample)
    fitted = 0.1 if method == "pca" else 0.6
    report(fitted)
    raw = np.zeros((len(item_ids), 2), dtype=np.float32)
    for start in range(0, len(item_ids), PROJECT_BATCH):
        rows = item_ids[start:start + PROJECT_BATCH]
        vectors = index.vectors_of(np.sort(rows))[np.argsort(np.argsort(rows))]
        raw[start:start + len(rows)] = projection.raw(vectors)
        report(fitted + (0.95 - fitted) * min(1.0, (start + len(rows)) / len(item_ids)))
    if method != "pca" and len(fit_ids):  # the fitted items keep their own positions
        order = np.argsort(item_ids)
        raw[order[np.searchsorted(item_ids, fit_ids, sorter=order)]] = projection.sample_xy
    offset, scale = _fit_square(raw)
    coordinates = squeeze((raw - offset) * scale)
    return Layout(item_ids, coordinates, projection, offset, scale, fingerprint(index))


def squeeze(scaled: np.ndarray) -> np.ndarray:
    """Identity within [-KNEE, KNEE]; beyond, a tanh that reaches 1 only at infinity."""
    magnitude = np.abs(scaled)
    tail = KNEE + (1 - KNEE) * np.tanh((magnitude - KNEE) / (1 - KNEE))
    return (np.sign(scaled) * np.where(magnitude > KNEE, tail, magnitude)).astype(np.float32)


def _fit_square(raw: np.ndarray) -> tuple[np.ndarray, float]:
    """Offset and one scale (the same on both axes, so distances keep their meaning) that
    put the central 99 % of the points within [-KNEE, KNEE]."""
    if not len(raw):
        return np.zeros(2), 1.0
    low, high = np.percentile(raw, 0.5, axis=0), np.percentile(raw, 99.5, axis=0)
    offset = (low + high) / 2
    half = float(np.max(high - low)) / 2
    return offset, (KNEE / half if half > 0 else 1.0)


# -- the cache beside the index ------------------------------------------------------------


def layout_path(index: Index, method: str = DEFAULT_METHOD) -> Path:
    return index.directory / MAPS_FOLDER / f"{index.version_dir.name}.{method}.npz"


def layout_arrays(layout: Layout) -> dict[str, np.ndarray]:
    """What is saved of a layout (no vectors: those are read back from the index)."""
    return {"item_ids": layout.item_ids, "coordinates": layout.coordinates,
            "offset": layout.offset, "scale": np.float64(layout.scale),
            "fingerprint": np.str_(layout.fingerprint), "method": np.str_(layout.method),
            "format": np.int64(FORMAT), **layout.projection.arrays()}


def read_layout(path: Path, index: Index, method: str) -> Layout | None:
    """The layout saved at `path` if it is the index's live version's, by `method`; else None."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            if (int(saved["format"]) != FORMAT or str(saved["fingerprint"]) != fingerprint(index)
                    or str(saved["method"]) != method):
                return None
            return Layout(saved["item_ids"], saved["coordinates"],
                          PROJECTIONS[method].from_arrays(saved, index),
                          saved["offset"], float(saved["scale"]), fingerprint(index))
    except (OSError, KeyError, ValueError):
        return None


def load_layout(index: Index, method: str = DEFAULT_METHOD) -> Layout | None:
    """The saved layout of the index's live version, or None (absent, stale or unreadable)."""
    return read_layout(layout_path(index, method), index, method)


def write_arrays(path: Path, layout: Layout) -> None:
    """Write the layout to `path` atomically (a temporary file beside it, then a rename)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **layout_arrays(layout))
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def save_layout(index: Index, layout: Layout) -> bool:
    """Write the layout beside the index's versions and drop older versions' layouts; False
    (and nothing written) when the index folder is read-only."""
    folder = index.directory / MAPS_FOLDER
    try:
        folder.mkdir(exist_ok=True)
        write_arrays(layout_path(index, layout.method), layout)
    except OSError:
        return False
    for old in folder.glob("*.npz"):
        if not old.name.startswith(index.version_dir.name + "."):
            old.unlink(missing_ok=True)
    return True


def index_layout(index: Index, method: str = DEFAULT_METHOD,
                 report: Callable[[float], None] = lambda done: None) -> Layout:
    """The live version's layout: the saved one, else computed now (UMAP in a child
    process) and saved."""
    layout = load_layout(index, method)
    if layout is None:
        layout = compute_layout(index, method, report) if method == "pca" else \
            compute_layout_apart(index, method, report)
        save_layout(index, layout)
    report(1.0)
    return layout


# -- computing in a child process ----------------------------------------------------------


def compute_layout_apart(index: Index, method: str,
                         report: Callable[[float], None] = lambda done: None, *,
                         fit_sample: int = FIT_SAMPLE) -> Layout:
    """`compute_layout` in a child process at a lower priority, its progress relayed to
    `report`: this process stays free to answer queries. The child opens the same version
    and hands the layout back as a file (no pickle)."""
    check_method(method)
    with tempfile.TemporaryDirectory(prefix="embedsearch-layout-") as folder:
        result, errors = Path(folder) / "layout.npz", Path(folder) / "errors.txt"
        command = [sys.executable, "-m", "embedsearch.query.layout", str(index.version_dir),
                   method, str(fit_sample), str(result)]
        package_root = str(Path(__file__).resolve().parents[2])  # this very copy of the code
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        with errors.open("w") as error_file:
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=error_file,
                                     text=True, env={**os.environ, "PYTHONPATH": path})
            for line in child.stdout:
                report(float(json.loads(line)["progress"]))
            if child.wait() != 0:
                lines = errors.read_text().strip().splitlines()
                raise RuntimeError(f"the {method} layout failed: "
                                   + (lines[-1] if lines else f"exit {child.returncode}"))
        layout = read_layout(result, index, method)
    if layout is None:
        raise RuntimeError(f"the {method} layout was computed for another version of the index")
    return layout


def _child(version_dir: str, method: str, fit_sample: int, result: str) -> None:
    """The child process: compute, write to `result`, print progress as JSON lines; it
    stops if its parent (the server) goes away."""
    try:
        os.nice(10)
    except OSError:
        pass
    parent = os.getppid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch_parent, daemon=True).start()

    def report(done: float) -> None:
        print(json.dumps({"progress": round(done, 3)}), flush=True)

    with Index.open(Path(version_dir).parent) as index:
        if index.version_dir.name != Path(version_dir).name:
            raise SystemExit("the index has a newer version: ask for its map again")
        layout = compute_layout(index, method, report, fit_sample=fit_sample)
        write_arrays(Path(result), layout)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
