"""`embedsearch train token-position`: the token+position embedder from a corpus."""

from __future__ import annotations

from pathlib import Path

import typer

from ..train.token_position import TokenPositionTraining
from .config_options import config_options
from .train import interrupts_name_the_checkpoint, train_app


@train_app.command("token-position")
@config_options(training=TokenPositionTraining)
def token_position(
    corpus: Path = typer.Option(..., "--corpus", help="Text file, folder or JSON Lines file."),
    out: Path = typer.Option(..., "--out", help="Encoder directory to write (checkpoints go there too)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint in --out."),
    unit: str = typer.Option("line", help="Text files: one document per 'line' or 'paragraph'."),
    text_field: str = typer.Option("text", help="JSON Lines: the field holding the text."),
    *,
    training: TokenPositionTraining,
):
    """Train the token+position embedder (Bengio-style next-token model).

    Examples:
      (LEE is gensim's Lee corpus: LEE=$(python -c "from gensim.test.utils import datapath; print(datapath('lee_background.cor'))"))
      embedsearch train token-position --corpus $LEE --out encoders/lee-tp --epochs 3
      embedsearch train token-position --corpus names.txt --out encoders/names --tokenizer char --context 5 --stride 1
    """
    from ..train.token_position import train_token_position

    with interrupts_name_the_checkpoint(out):
        result = train_token_position(corpus, out, training, unit=unit, text_field=text_field,
                                      resume=resume, report=typer.echo)
    config = result.encoder.config
    typer.echo(f"trained token-position model: {config.vocab_size:,} token ids, context {config.context}, "
               f"dimension {result.encoder.dim}; {result.train_tokens:,} training and "
               f"{result.validation_tokens:,} validation tokens -> {out}")
