"""Commands that encode into an index: build (a new one), add (new and changed items), rebuild.

All three take `--ray`, `--ray-address` and `--workers` (`engines.engine_options`).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..corpus.chunks import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_WORDS
from .app import app
from .engines import EngineChoice, engine_options
from .options import (KeyFieldOption, MaxMemoryOption, ParamOption, RecallOption, TextFieldOption,
                      Unit, UnitOption, VectorDtype)
from .printing import index_summary


@app.command()
@engine_options
def build(
    out: str = typer.Option(..., "--out", "-o", help="Name (under indexes/ or $EMBEDSEARCH_HOME), "
                                                     "or a path containing a slash."),
    vectors: Optional[str] = typer.Option(
        None, "--vectors", help="Index a vocabulary: built-in name (glove-6b-50d), vectors file "
                                "(word2vec .bin/.txt, GloVe .txt) or encoder directory."),
    corpus: Optional[Path] = typer.Option(
        None, "--corpus", help="Index a corpus: a text file, folder, JSON Lines or Parquet file."),
    encoder: Optional[str] = typer.Option(
        None, "--encoder", help="Encoder for --corpus: built-in name, vectors file or encoder "
                                "directory (default: minilm-static, shipped in the package)."),
    unit: Unit = UnitOption,
    text_field: str = TextFieldOption,
    key_field: Optional[str] = KeyFieldOption,
    chunk_words: int = typer.Option(
        DEFAULT_CHUNK_WORDS, "--chunk-words", min=0,
        help="Cut texts longer than this many words into sentence-aligned chunks, one item "
             "each (0: never cut)."),
    chunk_overlap: int = typer.Option(
        DEFAULT_CHUNK_OVERLAP, "--chunk-overlap", min=0,
        help="Words of whole sentences a chunk repeats from the one before."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing index atomically."),
    skip_existing: bool = typer.Option(False, "--skip-existing",
                                       help="Do nothing if the index already exists."),
    index_type: str = typer.Option(
        "flat", "--index-type", help="flat (exact), hnsw, ivfsq8, ivfpq, auto (by size and "
                                     "--max-memory, tuned to --recall), or factory:STRING."),
    recall: Optional[float] = RecallOption,
    max_memory: Optional[str] = MaxMemoryOption,
    params: Optional[List[str]] = ParamOption,
    vector_dtype: VectorDtype = typer.Option(
        VectorDtype.float32, "--vector-dtype", help="Store the raw vectors as float32 or float16 "
                                                    "(half the disk)."),
    *,
    engine: EngineChoice,
):
    """Build an index from word vectors or from a corpus.

    Examples (glove-6b-50d is built in; notes.txt is any text file of yours):
      embedsearch build --vectors glove-6b-50d --out glove-6b-50d
      embedsearch build --vectors glove-6b-50d --out glove-auto --index-type auto --recall 0.95
      embedsearch build --corpus notes.txt --out notes
      embedsearch build --corpus docs.jsonl --key-field key --encoder all-minilm-l6-v2 --out docs
      embedsearch build --corpus docs.parquet --encoder glove-6b-50d --out docs --ray --workers 2
    """
    from ..indexing.build import (build_corpus_index, build_vocabulary_index, check_build_options,
                                  chunking_record)
    from ..encoders import DEFAULT_TEXT_ENCODER, load_encoder
    from ..errors import InputError
    from ..index import Index, resolve_index_path
    from ..index.faiss_types import parse_params
    from ..index.tuning import parse_size

    if (vectors is None) == (corpus is None):
        raise InputError("give either --vectors (a vocabulary index) or --corpus (with --encoder, "
                         f"default {DEFAULT_TEXT_ENCODER})")
    if vectors is not None and engine.distributed:
        raise InputError("--ray builds a --corpus index; a vocabulary is indexed in-process")
    existing = resolve_index_path(out)
    if skip_existing and (existing / "CURRENT").exists():
        if _encoder_unchanged(existing):
            typer.echo(f"index {existing} exists; reusing it")
            return
        typer.echo(f"index {existing} exists but its encoder has changed since; building it again")
        overwrite = True
    chunking_record(chunk_words, chunk_overlap)
    index_options = check_build_options(out, overwrite=overwrite, index_type=index_type,
                                        index_params=parse_params(params), recall=recall,
                                        max_memory=parse_size(max_memory))
    if corpus is not None:
        model = load_encoder(encoder or DEFAULT_TEXT_ENCODER)
        with engine.open() as opened_engine:
            report = build_corpus_index(corpus, model, out, unit=unit.value, text_field=text_field,
                                        key_field=key_field, overwrite=overwrite,
                                        engine=opened_engine, chunk_words=chunk_words,
                                        chunk_overlap=chunk_overlap,
                                        vector_dtype=vector_dtype.value, **index_options)
    else:
        report = build_vocabulary_index(load_encoder(vectors), out, overwrite=overwrite,
                                        vector_dtype=vector_dtype.value, **index_options)
    for line in report.lines():
        typer.echo(line)
    with Index.open(report.path) as opened:
        typer.echo(index_summary(opened.manifest))


@app.command()
@engine_options
def add(
    index: str = typer.Argument(..., help="Name or path of an existing corpus index."),
    corpus: Path = typer.Option(..., "--corpus", help="Text file, folder or JSON Lines file."),
    unit: Unit = UnitOption,
    text_field: str = TextFieldOption,
    key_field: Optional[str] = KeyFieldOption,
    prune: bool = typer.Option(False, "--prune",
                               help="Also delete items of these files that are no longer in them."),
    chunk_words: Optional[int] = typer.Option(
        None, "--chunk-words", min=0, help="Cut long texts into chunks of this many words "
                                           "(default: as the index was built; 0: never cut)."),
    chunk_overlap: Optional[int] = typer.Option(
        None, "--chunk-overlap", min=0, help="Words a chunk repeats from the one before "
                                             "(default: as the index was built)."),
    *,
    engine: EngineChoice,
):
    """Add new or changed items of a corpus to an index; unchanged items are skipped.

    Uses the index's own encoder; one atomic update, no rebuild.

    Example:
      embedsearch add notes --corpus notes/ --prune
    """
    from ..indexing.add import add_corpus

    with engine.open() as opened_engine:
        report = add_corpus(index, corpus, unit=unit.value, text_field=text_field,
                            key_field=key_field, prune=prune, engine=opened_engine,
                            chunk_words=chunk_words, chunk_overlap=chunk_overlap)
    for line in report.lines():
        typer.echo(line)


@app.command()
@engine_options
def rebuild(
    index: str = typer.Argument(..., help="Index name (under indexes/) or path."),
    *,
    engine: EngineChoice,
):
    """Re-encode an index if its encoder changed since it was built; otherwise do nothing.

    Example:
      embedsearch rebuild lee-tp
    """
    from ..indexing.rebuild import rebuild_index

    with engine.open() as opened_engine:
        report = rebuild_index(index, engine=opened_engine)
    for line in report.lines():
        typer.echo(line)


def _encoder_unchanged(path) -> bool:
    """Whether the index at `path` can still be queried: its encoder loads and gives the vectors
    it was built with (an upgraded built-in encoder does not)."""
    from ..errors import EncoderError
    from ..index import Index
    from ..indexing.encoder_check import load_index_encoder

    with Index.open(path) as index:
        try:
            load_index_encoder(index.manifest, path)
        except EncoderError:
            return False
    return True
