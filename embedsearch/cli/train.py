"""`embedsearch train ...`: train an encoder on a corpus (word2vec, token-position, attention).

Each trainer's model and training options come from its config dataclasses
(`config_options`), so an option is declared once, beside its default.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer

from ..train.attention import AttentionTraining
from ..train.token_position import TokenPositionTraining
from ..train.word2vec import Word2VecTraining
from .config_options import config_options
from .options import TextFieldOption, TrainUnitOption, Unit, option_set

train_app = typer.Typer(help="Train encoders on your corpus.", no_args_is_help=True)



@dataclass(frozen=True)
class TrainingRun:
    """What a neural trainer reads and where it writes: the options its commands share."""

    corpus: Path
    out: Path
    resume: bool
    unit: Unit
    text_field: str

    def keywords(self) -> dict:
        """The trainer functions' keyword arguments for this run."""
        return {"unit": self.unit.value, "text_field": self.text_field, "resume": self.resume}


training_run_options = option_set("run", {
    "corpus": (Path, typer.Option(..., "--corpus", help="Text file, folder or JSON Lines file; "
                                                        "one document per item.")),
    "out": (Path, typer.Option(..., "--out", help="Encoder directory to write (checkpoints go "
                                                  "there too).")),
    "resume": (bool, typer.Option(False, "--resume", help="Continue from the checkpoint in --out.")),
    "unit": (Unit, TrainUnitOption),
    "text_field": (str, TextFieldOption),
}, TrainingRun)


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
    unit: Unit = TrainUnitOption,
    text_field: str = TextFieldOption,
    *,
    training: Word2VecTraining,
):
    """Train word2vec (skip-gram or CBOW, negative sampling) on a corpus.

    Example (LEE is gensim's Lee corpus):
      LEE=$(python -c "from gensim.test.utils import datapath; print(datapath('lee_background.cor'))")
      embedsearch train word2vec --corpus $LEE --out encoders/lee-w2v --min-count 2
    """
    from ..train.word2vec import train_word2vec

    vectors = train_word2vec(corpus, out, training, unit=unit.value, text_field=text_field)
    typer.echo(f"trained {len(vectors.words):,} word vectors of dimension {vectors.dim} -> {out}")


@train_app.command("token-position")
@config_options(flags={"bpe_vocab_size": "--vocab-size"}, training=TokenPositionTraining)
@training_run_options
def token_position(*, run: TrainingRun, training: TokenPositionTraining):
    """Train the token+position embedder (Bengio-style next-token model).

    Examples:
      LEE=$(python -c "from gensim.test.utils import datapath; print(datapath('lee_background.cor'))")   # gensim's Lee corpus
      embedsearch train token-position --corpus $LEE --out encoders/lee-tp --epochs 3
      embedsearch train token-position --corpus $LEE --out encoders/lee-tp-bpe --tokenizer bpe --vocab-size 4000
      embedsearch train token-position --corpus names.txt --out encoders/names --tokenizer char --context 5 --stride 1
    """
    from ..train.token_position import train_token_position

    with interrupts_name_the_checkpoint(run.out):
        result = train_token_position(run.corpus, run.out, training, **run.keywords(),
                                      report=typer.echo)
    config = result.encoder.config
    typer.echo(f"trained token-position model: {config.vocab_size:,} token ids, context {config.context}, "
               f"dimension {result.encoder.dim}; {result.train_tokens:,} training and "
               f"{result.validation_tokens:,} validation tokens -> {run.out}")


@train_app.command("attention")
@config_options(flags={"bpe_vocab_size": "--vocab-size"}, training=AttentionTraining)
@training_run_options
def attention(*, run: TrainingRun, training: AttentionTraining):
    """Train the attention encoder (InfoNCE on chunks of the same document).

    With no other option it trains a useful encoder in minutes on 2 cores (400 batches).

    Examples:
      LEE=$(python -c "from gensim.test.utils import datapath; print(datapath('lee_background.cor'))")   # gensim's Lee corpus
      embedsearch train attention --corpus $LEE --out encoders/attention
      embedsearch train attention --corpus $LEE --out encoders/student --teacher all-minilm-l6-v2
      embedsearch build --corpus notes.jsonl --encoder encoders/attention --out notes
    """
    from ..train.attention import train_attention

    with interrupts_name_the_checkpoint(run.out):
        result = train_attention(run.corpus, run.out, training, **run.keywords(), report=typer.echo)
    config = result.encoder.config
    if result.teacher_agreement:
        typer.echo(f"agreement with {training.teacher} on the validation texts: "
                   f"{result.teacher_agreement[0]['agreement']:.3f} before training, "
                   f"{result.teacher_agreement[-1]['agreement']:.3f} after")
    typer.echo(f"trained attention encoder: {config.vocab_size:,} token ids "
               f"({result.initialised_tokens:,} started from {training.start_vectors() or 'random'}), "
               f"{config.layers} layers, dimension {config.dim} + lexical {config.lexical_dim} "
               f"(share {config.lexical_share:g}); {result.train_documents:,} training "
               f"and {result.validation_documents:,} validation documents, "
               f"{result.tokens_per_second:,.0f} tokens/s -> {run.out}")
