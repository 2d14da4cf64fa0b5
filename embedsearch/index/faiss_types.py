"""FAISS index types by name: their parameters, how to create, read and search each.

Every type scores by inner product, which on unit vectors is cosine
similarity, and stores vectors under their item ids: IVF indexes take ids
themselves; the others are wrapped in an `IndexIDMap` (8 bytes per vector; the
raw vectors live in `vectors.f32`, so `IndexIDMap2`'s reverse map is not
needed). Search parameters (efSearch, nprobe) come from the manifest's
`index_params` and travel with the id selector of `--where` filters in one
`SearchParametersHNSW` / `SearchParametersIVF`; `IndexIDMap` translates the
selector from item ids to its internal ids itself.

Types (`--index-type`):
  flat              exact search                      params: -
  hnsw              graph, IndexHNSWFlat              params: M, efConstruction, efSearch
                    (the store adds reordered_nodes, see `reorder`)
  ivfsq8            IVF, 8-bit scalar quantiser       params: nlist, nprobe
  ivfpq             IVF, product quantiser + exact    params: nlist, m, nbits, nprobe, rerank
                    rerank from the raw vectors
  factory:STRING    any FAISS index_factory string    params: factory, nprobe/efSearch, rerank
                    e.g. factory:IVF256,PQ16
  scann             ScaNN (extra `scann`): tree +     params: leaves, leaves_to_search, reorder
                    anisotropic 4-bit codes + exact
                    reorder; not a FAISS index, see `scann_index`

Adding a type means one entry in `INDEX_TYPES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import faiss
import numpy as np

from ..errors import InputError
from . import scann_index
from .scann_index import ScannIndex

FAISS_FILE = "index.faiss"
FACTORY_PREFIX = "factory:"
IP = faiss.METRIC_INNER_PRODUCT


@dataclass(frozen=True)
class IndexType:
    """One kind of FAISS index: its default parameters, constructor and memory use."""

    defaults: Callable[[int, int], dict]  # (dim, expected count) -> parameters
    create: Callable[[int, dict], faiss.Index]
    bytes_per_vector: Callable[[int, dict], float]  # resident memory per vector
    read_flags: int = 0
    description: str = ""


def _ivf_lists(count: int) -> int:
    """About 2 sqrt(n) lists, a power of two, each with at least 39 training points."""
    wanted = 2 ** round(math.log2(max(1.0, 2 * math.sqrt(max(count, 1)))))
    return int(max(1, min(wanted, count // 39)))


def _pq_subquantisers(dim: int) -> int:
    """About one byte per 8 dimensions: the smallest divisor of dim >= dim / 8.

    128-d -> 16 bytes a vector (a 32x compression); 50-d -> 10. Reranking
    from the raw vectors recovers the exact order, so the codes only need to
    find the candidates.
    """
    return min(m for m in range(1, dim + 1) if dim % m == 0 and m * 8 >= dim)


def _pq_bits(count: int) -> int:
    """8-bit codes need 9,984 training points; fewer points get fewer bits."""
    return int(min(8, max(1, math.floor(math.log2(max(count, 2) / 39)))))


def _flat(dim: int, params: dict) -> faiss.Index:
    return faiss.IndexIDMap(faiss.IndexFlatIP(dim))


def _hnsw(dim: int, params: dict) -> faiss.Index:
    graph = faiss.IndexHNSWFlat(dim, int(params["M"]), IP)
    graph.hnsw.efConstruction = int(params["efConstruction"])
    graph.hnsw.efSearch = int(params["efSearch"])
    return faiss.IndexIDMap(graph)


def _ivfsq8(dim: int, params: dict) -> faiss.Index:
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(quantizer, dim, int(params["nlist"]),
                                          faiss.ScalarQuantizer.QT_8bit, IP)
    index.own_fields = True
    quantizer.this.disown()
    index.nprobe = int(params["nprobe"])
    return index


def _ivfpq(dim: int, params: dict) -> faiss.Index:
    m = int(params["m"])
    if dim % m:
        raise InputError(f"ivfpq: m={m} must divide the dimension {dim}")
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQ(quantizer, dim, int(params["nlist"]), m, int(params["nbits"]), IP)
    index.own_fields = True
    quantizer.this.disown()
    index.nprobe = int(params["nprobe"])
    index.do_polysemous_training = False
    return index


def _factory(dim: int, params: dict) -> faiss.Index:
    description = params.get("factory")
    if not description:
        raise InputError("a factory index needs a FAISS index_factory string, e.g. factory:IVF256,PQ16")
    try:
        index = faiss.index_factory(dim, description, IP)
    except RuntimeError as error:
        raise InputError(f"FAISS cannot build {description!r}: {str(error).strip().splitlines()[-1]}") from None
    if faiss.try_extract_index_ivf(index) is None and not isinstance(
            faiss.downcast_index(index), (faiss.IndexIDMap, faiss.IndexIDMap2)):
        index = faiss.IndexIDMap(index)
    ivf = faiss.try_extract_index_ivf(index)
    ivf = faiss.downcast_index(ivf) if ivf is not None else None
    if isinstance(ivf, faiss.IndexIVFPQ):
        # Polysemous codes serve Hamming-filtered search, which is never used here, and
        # training them takes most of an IVF-PQ build (docs/benchmarks.md, figures moved).
        ivf.do_polysemous_training = False
    return index


def _factory_bytes(dim: int, params: dict) -> float:
    probe = _factory(dim, params)
    return float(getattr(faiss.downcast_index(probe), "code_size", dim * 4)) + 8


INDEX_TYPES: dict[str, IndexType] = {
    # Flat codes can be memory-mapped: a 400,000 x 50 index opens in milliseconds.
    "flat": IndexType(
        defaults=lambda dim, count: {},
        create=_flat,
        bytes_per_vector=lambda dim, p: dim * 4 + 8,
        read_flags=faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY,
        description="exact inner-product search"),
    "hnsw": IndexType(
        defaults=lambda dim, count: {"M": 32, "efConstruction": 80, "efSearch": 64},
        create=_hnsw,
        # vectors, two levels' worth of links at level 0, id map
        bytes_per_vector=lambda dim, p: dim * 4 + int(p["M"]) * 2 * 4 * 1.1 + 8,
        description="HNSW graph over the float32 vectors"),
    "ivfsq8": IndexType(
        defaults=lambda dim, count: {"nlist": _ivf_lists(count), "nprobe": 16},
        create=_ivfsq8,
        bytes_per_vector=lambda dim, p: dim + 8,
        description="inverted lists of 8-bit scalar-quantised vectors"),
    "ivfpq": IndexType(
        defaults=lambda dim, count: {"nlist": _ivf_lists(count), "m": _pq_subquantisers(dim),
                                     "nbits": _pq_bits(min(count, 100_000)), "nprobe": 16,
                                     "rerank": 4},
        create=_ivfpq,
        bytes_per_vector=lambda dim, p: math.ceil(int(p["m"]) * int(p["nbits"]) / 8) + 8,
        description="inverted lists of product-quantised codes, reranked exactly from disk"),
    "factory": IndexType(
        defaults=lambda dim, count: {},
        create=_factory,
        bytes_per_vector=_factory_bytes,
        description="any FAISS index_factory string (experts)"),
    "scann": IndexType(
        defaults=scann_index.default_params,
        create=ScannIndex,
        bytes_per_vector=scann_index.bytes_per_vector,
        description="ScaNN: k-means tree, anisotropic 4-bit codes, exact reorder"),
}


def index_type(name: str) -> IndexType:
    try:
        return INDEX_TYPES[name]
    except KeyError:
        raise InputError(
            f"unknown index type {name!r}: use one of {', '.join(sorted(INDEX_TYPES))}, "
            f"auto, or {FACTORY_PREFIX}STRING"
        ) from None


def parse_index_type(text: str) -> tuple[str, dict]:
    """'hnsw' -> ('hnsw', {}); 'factory:IVF256,PQ16' -> ('factory', {'factory': 'IVF256,PQ16'})."""
    text = text.strip()
    if text.startswith(FACTORY_PREFIX):
        return "factory", {"factory": text[len(FACTORY_PREFIX):]}
    if text != "auto":
        index_type(text)
    return text, {}


@dataclass(frozen=True)
class ParamSpec:
    """One index parameter: an integer within [low, high], or free text."""

    low: int = 1
    high: int = 1 << 20
    text: bool = False

    def check(self, name: str, value):
        if self.text:
            return str(value)
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise InputError(f"index parameter {name}={value!r} must be a whole number") from None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise InputError(f"index parameter {name}={value!r} must be a whole number")
        if not self.low <= value <= self.high:
            raise InputError(f"index parameter {name}={value} is out of range: "
                             f"use {self.low} to {self.high}")
        return value


_GRAPH = {"M": ParamSpec(2, 512), "efConstruction": ParamSpec(1, 1 << 16),
          "efSearch": ParamSpec(1, 1 << 16)}
_IVF = {"nlist": ParamSpec(1, 1 << 24), "nprobe": ParamSpec(1, 1 << 24)}
_RERANK = {"rerank": ParamSpec(1, 1024)}
# The parameters each type accepts; `auto` may become any type, so it accepts them all.
PARAMETERS: dict[str, dict[str, ParamSpec]] = {
    "flat": {},
    "hnsw": _GRAPH,
    "ivfsq8": _IVF,
    "ivfpq": {**_IVF, "m": ParamSpec(1, 4096), "nbits": ParamSpec(1, 16), **_RERANK},
    "factory": {"factory": ParamSpec(text=True), "nprobe": _IVF["nprobe"],
                "efSearch": _GRAPH["efSearch"], **_RERANK},
    "scann": {"leaves": ParamSpec(1, 1 << 20), "leaves_to_search": ParamSpec(1, 1 << 20),
              "reorder": ParamSpec(1, 1 << 16)},
}
PARAMETERS["auto"] = {name: spec for specs in PARAMETERS.values() for name, spec in specs.items()
                      if not spec.text}
# Parameters the store itself records in the manifest (not user input).
STORE_PARAMS = {"reordered_nodes"}


def parse_params(pairs: list[str] | None) -> dict:
    """['M=48', 'efSearch=128'] -> {'M': '48', 'efSearch': '128'}; `check_params` types them."""
    params = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InputError(f"index parameter {pair!r} is not NAME=VALUE (e.g. efSearch=128)")
        params[name.strip()] = value.strip()
    return params


def check_params(type_name: str, params: dict | None) -> dict:
    """`params` typed and range-checked for an index type, before any work is done.

    >>> check_params("hnsw", {"M": "48"})
    {'M': 48}

    An unknown name is an error naming the type's parameters; `M=-3` or
    `M=abc` fail here, in microseconds, rather than in FAISS after encoding.
    """
    name, _ = parse_index_type(type_name)
    specs = PARAMETERS[name]
    checked = {}
    for key, value in (params or {}).items():
        if key in STORE_PARAMS:
            checked[key] = value
            continue
        if key not in specs:
            valid = ", ".join(specs) if specs else "none"
            raise InputError(f"{name} indexes have no parameter {key!r} (valid: {valid})")
        checked[key] = specs[key].check(key, value)
    return checked


def resolve_params(name: str, dim: int, count: int, params: dict | None) -> dict:
    """The type's defaults for `count` vectors, overridden by the user's parameters."""
    resolved = index_type(name).defaults(dim, count)
    resolved.update(params or {})
    return resolved


def estimate_bytes(name: str, dim: int, count: int, params: dict) -> int:
    """Resident memory of the FAISS index for `count` vectors (raw vectors stay on disk)."""
    kind = index_type(name)
    coarse = int(params.get("nlist", params.get("leaves", 0))) * dim * 4
    return int(kind.bytes_per_vector(dim, params) * count + coarse)


def create_faiss_index(name: str, dim: int, params: dict | None = None) -> faiss.Index:
    return index_type(name).create(dim, params or {})


def read_faiss_index(path: Path, name: str, *, writable: bool = False) -> faiss.Index:
    if name == "scann":
        return ScannIndex.read(path)
    flags = 0 if writable else index_type(name).read_flags
    return faiss.read_index(str(path), flags)


def write_index(index, path: Path) -> None:
    """The inverse of `read_faiss_index`."""
    if isinstance(index, ScannIndex):
        index.write(path)
    else:
        faiss.write_index(index, str(path))


def supports_removal(index: faiss.Index) -> bool:
    """Whether `remove_ids` works (flat, IVF); HNSW graphs cannot remove and use tombstones."""
    try:
        index.remove_ids(faiss.IDSelectorBatch(0, None))
        return True
    except RuntimeError:
        return False


def hnsw_of(index: faiss.Index):
    """The `IndexHNSW` of an index (bare or inside an id map), else None."""
    if not isinstance(index, faiss.Index):
        return None
    inner = faiss.downcast_index(index)
    if isinstance(inner, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        inner = faiss.downcast_index(inner.index)
    return inner if isinstance(inner, faiss.IndexHNSW) else None


def search_knob(index: faiss.Index) -> str | None:
    """'efSearch' for HNSW, 'nprobe' for IVF, 'leaves_to_search' for ScaNN, else None."""
    if isinstance(index, ScannIndex):
        return "leaves_to_search" if index.leaves else None
    if faiss.try_extract_index_ivf(index) is not None:
        return "nprobe"
    return "efSearch" if hnsw_of(index) is not None else None


def search_parameters(index: faiss.Index, selector: faiss.IDSelector | None,
                      params: dict | None = None):
    """Search parameters for `index`: its knob from `params`, restricted to `selector`'s ids."""
    params = params or {}
    knob = search_knob(index)
    if knob == "nprobe":
        ivf = faiss.try_extract_index_ivf(index)
        nprobe = int(params.get("nprobe", ivf.nprobe))
        return faiss.SearchParametersIVF(sel=selector, nprobe=min(nprobe, ivf.nlist))
    if knob == "efSearch":
        default = hnsw_of(index).hnsw.efSearch
        return faiss.SearchParametersHNSW(sel=selector, efSearch=int(params.get("efSearch", default)))
    if selector is None:
        return None
    return faiss.SearchParameters(sel=selector)


def id_selector(ids: np.ndarray) -> faiss.IDSelector:
    """A FAISS selector for a set of item ids (filters run inside the search)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    # IDSelectorBatch copies the ids into its own hash set; ScaNN filters with the array.
    selector = faiss.IDSelectorBatch(len(ids), faiss.swig_ptr(ids))
    selector.allowed_ids = ids
    return selector


def excluding(ids: np.ndarray) -> faiss.IDSelector:
    """A selector for every id except `ids` (the tombstones of an index that cannot remove)."""
    inner = id_selector(ids)
    selector = faiss.IDSelectorNot(inner)
    selector.referenced = inner  # keep the inner selector alive as long as this one
    selector.excluded_ids = inner.allowed_ids
    return selector
