"""`embedsearch train ...`: rebuild encoders from a corpus."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer

from ..train.word2vec import Word2VecTraining
from .config_options import config_options

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
@config_options(flags={"skip_gram": "--skip-gram/--cbow"}, training=Word2VecTraining)
def word2vec(
    corpus: Path = typer.Option(..., "--corpus", help="Text file, folder or JSON Lines file."),
    out: Path = typer.Option(..., "--out", help="Encoder directory to write."),
    unit: str = typer.Option("line", help="Text files: 'line' or 'paragraph' per sentence."),
    text_field: str = typer.Option("text", help="JSON Lines: the field holding the text."),
    *,
    training: Word2VecTraining,
):
    """Train word2vec (skip-gram or CBOW, negative sampling) on a corpus.

    Example (LEE is gensim's Lee corpus: LEE=$(python -c "from gensim.test.utils import datapath; print(datapath('lee_background.cor'))")):
      embedsearch train word2vec --corpus $LEE --out encoders/lee-w2v --min-count 2
    """
    from ..train.word2vec import train_word2vec

    vectors = train_word2vec(corpus, out, training, unit=unit, text_field=text_field)
    typer.echo(f"trained {len(vectors.words):,} word vectors of dimension {vectors.dim} -> {out}")
