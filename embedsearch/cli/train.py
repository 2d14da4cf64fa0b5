"""`embedsearch train ...`: rebuild encoders from a corpus."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer

train_app = typer.Typer(help="Train encoders on your corpus.", no_args_is_help=True)


@contextmanager
def interrupts_name_the_checkpoint(out: Path):
    """Ctrl-C during training: say which checkpoint holds the last finished epoch; exit 130."""
    from ..train.loop import CHECKPOINT_FILE

    try:
        yield
    except KeyboardInterrupt:
        checkpoint = out / CHECKPOINT_FILE
        typer.echo("interrupted: " + (f"{checkpoint} holds the last finished epoch; continue "
                                      "with --resume" if checkpoint.exists()
                                      else "no epoch finished, nothing was saved"), err=True)
        raise typer.Exit(130) from None


@train_app.command("word2vec")
def word2vec(
    corpus: Path = typer.Option(..., "--corpus", help="Text file, folder or JSON Lines file."),
    out: Path = typer.Option(..., "--out", help="Encoder directory to write."),
    dim: int = typer.Option(100, min=2, help="Vector dimension."),
    window: int = typer.Option(5, min=1, help="Context window (words each side)."),
    min_count: int = typer.Option(5, min=1, help="Ignore words rarer than this."),
    cbow: bool = typer.Option(False, "--cbow", help="CBOW instead of skip-gram."),
    negative: int = typer.Option(5, min=1, help="Negative samples per positive."),
    epochs: int = typer.Option(5, min=1),
    seed: int = typer.Option(1),
    workers: int = typer.Option(0, min=0, help="Threads (0: all cores)."),
    unit: str = typer.Option("line", help="Text files: 'line' or 'paragraph' per sentence."),
    text_field: str = typer.Option("text", help="JSON Lines: the field holding the text."),
):
    """Train word2vec (skip-gram or CBOW, negative sampling) on a corpus.

    Example: embedsearch train word2vec --corpus data/lee.txt --out encoders/lee-w2v --min-count 2
    """
    from ..train.word2vec import Word2VecConfig, train_word2vec

    config = Word2VecConfig(dim=dim, window=window, min_count=min_count, skip_gram=not cbow,
                            negative=negative, epochs=epochs, seed=seed, workers=workers)
    vectors = train_word2vec(corpus, out, config, unit=unit, text_field=text_field)
    typer.echo(f"trained {len(vectors.words):,} word vectors of dimension {vectors.dim} -> {out}")
