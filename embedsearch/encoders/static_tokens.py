"""A static token-vector encoder: the default for text, learnt once from all-MiniLM-L6-v2.

Model2Vec's recipe (Tulkens and van Dongen, 2024) to start: every token of
MiniLM's WordPiece vocabulary is run through MiniLM alone (`[CLS] token
[SEP]`, mean-pooled like MiniLM's sentence vectors), the 30,522 vectors are
centred and each row is scaled by a Zipf-prior SIF weight,
`SIF / (SIF + p(rank))`, so frequent tokens count less (`distilled_rows`).
Then Tokenlearn's step: the rows are fitted so that the sum of a real text's
rows points where MiniLM's vector of that text points
(`embedsearch.train.static_table`), and PCA reduces them to `DIMS`
dimensions (`reduced_table`). A text's vector is the normalised sum of its
tokens' rows: no attention, no truncation, a sparse product per block of
texts, so it encodes as fast as a keyword index is built. It is meant to be
fused with keyword search (hybrid), which supplies exact words while this
supplies meaning.

The built-in `minilm-static` ships inside the package
(`data/minilm-static.npy`, float16, and MiniLM's `tokenizer.json`), so it
needs neither the teacher nor sentence-transformers at run time;
`scripts/train_static_table.py` rebuilds both from the teacher (with the
`sentence-transformers` extra installed); data/README.md says from what.

An encoder directory (`save`) holds `config.json` (kind, name, format
version, dimension), `token_vectors.npy` and `tokenizer.json`.

>>> encoder = load_static_minilm()
>>> vectors = encoder.encode(["interest rates rose", "the bank raised rates", "a cat on a mat"])
>>> bool(vectors[0] @ vectors[1] > vectors[0] @ vectors[2])
True
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EncoderError
from ..files import write_atomically
from ..progress import progress_bar
from ..vectors import normalize_rows
from .base import Encoder, fingerprint_bytes

STATIC_MINILM = "minilm-static"
DATA = Path(__file__).parent / "data"
BUILTIN_TABLE = DATA / "minilm-static.npy"
BUILTIN_TOKENIZER = DATA / "minilm-tokenizer.json"
CONFIG_FILE = "config.json"
TABLE_FILE = "token_vectors.npy"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1
DIMS = 256
SIF = 1e-4
BLOCK_TEXTS = 4096
MAX_CACHED_WORDS = 1_000_000
MAX_WORD_CHARACTERS = 100  # BERT's WordPiece calls a longer word unknown
# BERT's pre-tokenizer: runs of letters and digits; each punctuation mark (underscore too) alone.
_PRE_TOKEN = re.compile(r"[^\W_]+|[^\w\s]|_")
# BERT's CJK ideographs, each of which is a word of its own.
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df"
                  "\U0002a700-\U0002ceaf\U0002f800-\U0002fa1f]")


def _spaced_cjk(text: str) -> str:
    return text if text.isascii() else _CJK.sub(r" \g<0> ", text)


class StaticTokenEncoder(Encoder):
    """Rows of a (vocabulary, dim) table summed over a text's tokens (kind "static-tokens").

    Rows of special tokens ([PAD], [UNK], [CLS], [SEP], [MASK]) are zero, so a
    text made only of them, or of nothing, cannot be encoded.
    """

    kind = "static-tokens"

    def __init__(self, table: np.ndarray, tokenizer_path: str | Path, *, name: str,
                 spec: str | None = None, show_progress: bool = True):
        from tokenizers import Tokenizer

        self.tokenizer_path = Path(tokenizer_path)
        try:
            self.tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
        except Exception as error:  # tokenizers raises its own Exception type
            raise EncoderError(f"{self.tokenizer_path}: not a tokenizer file ({error})") from None
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        if table.ndim != 2 or table.shape[0] != self.tokenizer.get_vocab_size():
            raise EncoderError(f"{name}: a table of shape {table.shape} does not fit a vocabulary "
                               f"of {self.tokenizer.get_vocab_size()} tokens")
        if not np.isfinite(table).all():
            raise EncoderError(f"{name}: the token table holds non-finite numbers")
        self.table = np.asarray(table, dtype=np.float32)
        self.stored_table = np.ascontiguousarray(table)
        self._name = name
        self._spec = spec or name
        self.show_progress = show_progress
        self._fingerprint = None
        self._word_ids: dict[str, list[int]] = {}
        self._vocabulary = self.tokenizer.get_vocab()
        self._unknown_id = self._vocabulary.get("[UNK]", 0)

    @property
    def name(self) -> str:
        return self._name

    @property
    def spec(self) -> str:
        return self._spec

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint_bytes(self.kind.encode(), str(self.stored_table.dtype).encode(),
                                                  self.stored_table.tobytes(),
                                                  self.tokenizer_path.read_bytes())
        return self._fingerprint

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The WordPiece ids of each text as MiniLM's tokenizer gives them, without special tokens,
        none cut.

        BERT's steps in Python: lower-case, split into words, punctuation marks
        and CJK characters, strip accents, then greedy longest-match WordPiece,
        each distinct word once (then from a cache). The tokenizers library on
        whole texts was three quarters of the encoding time. Where the two
        differ (a non-ASCII symbol such as ° is a word of its own here) the
        difference is one token.
        """
        words_of = [_PRE_TOKEN.findall(_spaced_cjk(text.lower())) for text in texts]
        cache = self._word_ids
        if len(cache) > MAX_CACHED_WORDS:
            cache.clear()
        for words in words_of:
            for word in words:
                if word not in cache:
                    cache[word] = self._wordpiece(word)
        return [[i for word in words for i in cache[word]] for words in words_of]

    def _wordpiece(self, word: str) -> list[int]:
        if not word.isascii():
            word = "".join(c for c in unicodedata.normalize("NFD", word)
                           if unicodedata.category(c) != "Mn")
        if len(word) > MAX_WORD_CHARACTERS:
            return [self._unknown_id]
        ids, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                token_id = self._vocabulary.get(word[start:end] if start == 0
                                                else "##" + word[start:end])
                if token_id is not None:
                    break
            else:
                return [self._unknown_id]
            ids.append(token_id)
            start = end
        return ids

    def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        from scipy.sparse import csr_matrix

        texts = list(texts)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        with progress_bar(total=len(texts), unit="texts", desc=self.name,
                          disable=not self.show_progress or len(texts) <= BLOCK_TEXTS) as bar:
            for start in range(0, len(texts), BLOCK_TEXTS):
                ids = self.token_ids(texts[start:start + BLOCK_TEXTS])
                lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
                columns = np.fromiter((i for row in ids for i in row), dtype=np.int64,
                                      count=int(lengths.sum()))
                counts = csr_matrix((np.ones(len(columns), dtype=np.float32), columns,
                                     np.concatenate([[0], np.cumsum(lengths)])),
                                    shape=(len(ids), len(self.table)))
                vectors[start:start + len(ids)] = counts @ self.table
                bar.update(len(ids))
        encodable = np.abs(vectors).sum(axis=1) > 0
        return normalize_rows(vectors), encodable

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_atomically(directory / TABLE_FILE,
                         lambda path: np.save(path, self.stored_table, allow_pickle=False),
                         suffix=".npy")
        tokenizer_text = self.tokenizer_path.read_text(encoding="utf-8")
        write_atomically(directory / TOKENIZER_FILE,
                         lambda path: path.write_text(tokenizer_text, encoding="utf-8"))
        config = {"kind": self.kind, "name": self.name, "format_version": FORMAT_VERSION,
                  "dim": self.dim}
        write_atomically(directory / CONFIG_FILE,
                         lambda path: path.write_text(json.dumps(config, indent=2) + "\n"))
        return directory

    @classmethod
    def load(cls, directory: Path, config: dict) -> "StaticTokenEncoder":
        """Read a directory written by `save` (the registry's loader for kind "static-tokens")."""
        if config.get("format_version") != FORMAT_VERSION:
            raise EncoderError(f"{directory}: static-tokens format {config.get('format_version')!r} "
                               f"is not {FORMAT_VERSION}; upgrade embedsearch or rebuild the encoder")
        unknown = set(config) - {"kind", "name", "format_version", "dim"}
        if unknown:
            raise EncoderError(f"{directory / CONFIG_FILE}: unknown keys {sorted(unknown)}")
        table_path, tokenizer_path = directory / TABLE_FILE, directory / TOKENIZER_FILE
        encoder = cls(_read_table(table_path), tokenizer_path,
                      name=str(config.get("name", directory.name)), spec=str(directory.resolve()))
        if config.get("dim") != encoder.dim:
            raise EncoderError(f"{directory}: config says dim {config.get('dim')!r}, "
                               f"the table has {encoder.dim}")
        return encoder


def _read_table(path: Path) -> np.ndarray:
    try:
        table = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise EncoderError(f"cannot read the token table {path} ({error})") from None
    if table.dtype not in (np.float16, np.float32):
        raise EncoderError(f"{path}: a token table must be float16 or float32, not {table.dtype}")
    return table


def load_static_minilm() -> StaticTokenEncoder:
    """The built-in `minilm-static`, from the files inside the package."""
    return StaticTokenEncoder(_read_table(BUILTIN_TABLE), BUILTIN_TOKENIZER, name=STATIC_MINILM)


def teacher_token_vectors(model, token_ids: Sequence[int], batch_size: int = 1024) -> np.ndarray:
    """The teacher's mean-pooled vector of each token alone, `[CLS] token [SEP]` (not normalised).

    `model` is a sentence-transformers model; its first module holds the
    Hugging Face transformer (`model[0].auto_model`) and its tokenizer.
    """
    import torch

    transformer, tokenizer = model[0].auto_model, model[0].tokenizer
    rows = []
    with torch.inference_mode():
        for start in range(0, len(token_ids), batch_size):
            ids = torch.as_tensor(token_ids[start:start + batch_size], dtype=torch.long)
            batch = torch.stack([torch.full_like(ids, tokenizer.cls_token_id), ids,
                                 torch.full_like(ids, tokenizer.sep_token_id)], dim=1)  # (B, 3)
            hidden = transformer(input_ids=batch, attention_mask=torch.ones_like(batch))
            rows.append(hidden.last_hidden_state.mean(dim=1).numpy())  # (B, 384)
    return np.concatenate(rows).astype(np.float32)


def distilled_rows(token_vectors: np.ndarray, special_ids: Sequence[int], sif: float = SIF) -> np.ndarray:
    """The teacher's token vectors as table rows, at the teacher's width: centred, each row times
    SIF / (SIF + p), p the token's probability under Zipf's law by vocabulary rank; the rows of
    `special_ids` zero. `token_vectors` are `teacher_token_vectors` of every id, in id order.

    >>> rows = distilled_rows(np.eye(4, 3), special_ids=[0])
    >>> rows.shape, rows.dtype, bool((rows[0] == 0).all())
    ((4, 3), dtype('float32'), True)
    """
    vectors = np.asarray(token_vectors, dtype=np.float64)
    vectors = vectors - vectors.mean(axis=0)
    inverse_rank = 1.0 / np.arange(2, len(vectors) + 2)
    weights = sif / (sif + inverse_rank / inverse_rank.sum())
    rows = vectors * weights[:, None]
    rows[list(special_ids)] = 0.0
    return rows.astype(np.float32)


def reduced_table(rows: np.ndarray, dims: int = DIMS) -> np.ndarray:
    """`rows` projected on their first `dims` principal axes, as the float16 table to ship.

    The axes come from the centred rows; the rows themselves are projected
    uncentred, so a zero row (a special token) stays zero.

    >>> table = reduced_table(np.eye(4, 3), dims=2)
    >>> table.shape, table.dtype
    ((4, 2), dtype('float16'))
    """
    rows = np.asarray(rows, dtype=np.float64)
    _, _, components = np.linalg.svd(rows - rows.mean(axis=0), full_matrices=False)
    return (rows @ components[:dims].T).astype(np.float16)
