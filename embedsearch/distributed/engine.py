"""`RayEngine`: the `indexing.engine` interface on Ray.

The source's parts become a Ray Dataset (one row per part, read by
`reading.read_parts` tasks), encoded by an actor pool of `workers`
`EncodeBatches` actors, and streamed back to the driver in source order,
where the usual writing loop adds them through the one `IndexWriter` (SQLite
rows and the raw vector file written in batches, one atomic publish). Ray
Data's backpressure keeps only a few batches in flight, so the corpus is never
whole in memory anywhere. IVF indexes are then filled by Ray tasks
(`filling`). If the driver or a worker dies, the writer's private copy is
never published: the previous index stays as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..corpus import CorpusReport
from ..encoders import Encoder
from ..errors import EmbedsearchError, InputError
from ..indexing.engine import BATCH_SIZE, EncodedBatch, Select
from .encoding import EncodeBatches
from .filling import fill_ivf
from .reading import items_of, merge_report, read_parts
from .session import connect, import_ray, quiet_data_context


class RayEngine:
    """Reads and encodes on Ray with `workers` encoder actors of `threads` CPUs each.

    A context manager: entering joins the cluster at `address` (or starts a
    local one); leaving shuts down only a connection it started itself.
    """

    def __init__(self, *, address: str | None = None, workers: int = 1, threads: int = 1):
        if workers < 1:
            raise InputError(f"workers must be at least 1, not {workers}")
        if threads < 1:
            raise InputError(f"threads must be at least 1, not {threads}")
        self.address, self.workers, self.threads = address, workers, threads
        self.ray = import_ray()
        self.started = False

    @property
    def build_info(self) -> dict:
        return {"engine": "ray", "workers": self.workers}

    def __enter__(self) -> "RayEngine":
        self.started = connect(self.address)
        quiet_data_context(self.ray)
        return self

    def __exit__(self, *exc) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False

    def encoded(self, source, encoder: Encoder, report: CorpusReport,
                select: Select | None = None, known: Path | None = None):
        """Encoded batches of `source`, in order; `select` is applied on the driver, after encoding.

        The actors cannot call `select` (it reads the driver's writer), so with
        `known`, the published items file of the index being updated, they
        skip encoding the items whose content hash it already holds: those
        are the ones `select` drops as unchanged (a duplicate key is dropped
        by `select` whether or not it was encoded).
        """
        if not self.ray.is_initialized():
            raise EmbedsearchError("RayEngine is used outside its `with` block")
        parts = source.parts()
        if not parts:
            return
        rows = self.ray.data.from_items([{"part": json.dumps(part)} for part in parts],
                                        override_num_blocks=len(parts))
        read = rows.map_batches(read_parts, fn_kwargs={"source": source}, batch_size=1,
                                batch_format="numpy", num_cpus=0,
                                compute=self.ray.data.TaskPoolStrategy(size=min(self.workers,
                                                                                len(parts))))
        encoded = read.map_batches(
            EncodeBatches, fn_constructor_kwargs={"spec": _portable_spec(encoder.spec),
                                                  "fingerprint": encoder.fingerprint(),
                                                  "threads": self.threads,
                                                  "known": str(known) if known else None},
            batch_size=BATCH_SIZE, batch_format="numpy", num_cpus=self.threads,
            compute=self.ray.data.ActorPoolStrategy(size=self.workers))
        try:
            for columns in encoded.iter_batches(batch_size=None, batch_format="numpy"):
                batch = _driver_batch(columns, report, select, encoder.dim)
                if batch is not None:
                    yield batch
        except self.ray.exceptions.RayError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, EmbedsearchError):  # e.g. a corpus file a task could not read
                raise cause from None
            raise EmbedsearchError(f"the Ray build failed: {_first_line(error)}; "
                                   "the index is left as it was") from None

    def fill(self, writer) -> None:
        fill_ivf(self.ray, writer, self.workers, self.threads)


def _driver_batch(columns: dict, report: CorpusReport, select: Select | None,
                  dim: int) -> EncodedBatch | None:
    is_report = columns["report"] != ""
    for summary in columns["report"][is_report]:
        merge_report(report, summary)
    rows = np.flatnonzero(~is_report)
    if len(rows) == 0:
        return None
    items = items_of(columns, rows)
    vectors = np.asarray(columns["vector"][rows], dtype=np.float32).reshape(len(rows), dim)
    encodable = np.asarray(columns["encodable"][rows], dtype=bool)
    if select is not None:
        chosen = {id(item) for item in select(items)}
        keep = np.array([id(item) in chosen for item in items], dtype=bool)
        items = [item for item, kept in zip(items, keep) if kept]
        vectors, encodable = vectors[keep], encodable[keep]
    return EncodedBatch(items, vectors, encodable, len(rows))


def _portable_spec(spec: str) -> str:
    """A path spec made absolute, since Ray workers do not share the driver's working directory."""
    path = Path(spec).expanduser()
    return str(path.absolute()) if path.exists() else spec


def _first_line(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__
