"""`embedsearch train attention`: the contrastive attention encoder from a corpus."""

from __future__ import annotations

from pathlib import Path

import typer

from ..train.attention import AttentionTraining
from .config_options import config_options
from .train import interrupts_name_the_checkpoint, train_app


@train_app.command("attention")
@config_options(flags={"bpe_vocab_size": "--vocab-size"}, training=AttentionTraining)
def attention(
    corpus: Path = typer.Option(..., "--corpus", help="Text file, folder or JSON Lines file; one document per item."),
    out: Path = typer.Option(..., "--out", help="Encoder directory to write (checkpoints go there too)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint in --out."),
    unit: str = typer.Option("line", help="Text files: one document per 'line' or 'paragraph'."),
    text_field: str = typer.Option("text", help="JSON Lines: the field holding the text."),
    *,
    training: AttentionTraining,
):
    """Train the attention encoder (InfoNCE on chunks of the same document).

    With no other option it trains a useful encoder in minutes on 2 cores (400 batches).

    Examples:
      (LEE is gensim's Lee corpus: LEE=$(python -c "from gensim.test.utils import datapath; print(datapath('lee_background.cor'))"))
      embedsearch train attention --corpus $LEE --out encoders/attention
      embedsearch train attention --corpus $LEE --out encoders/student --teacher all-minilm-l6-v2
      embedsearch build --corpus notes.jsonl --encoder encoders/attention --out notes
    """
    from ..train.attention import train_attention

    with interrupts_name_the_checkpoint(out):
        result = train_attention(corpus, out, training, unit=unit, text_field=text_field,
                                 resume=resume, report=typer.echo)
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
               f"{result.tokens_per_second:,.0f} tokens/s -> {out}")
