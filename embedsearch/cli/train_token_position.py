"""`embedsearch train token-position`: the token+position embedder from a corpus."""

from __future__ import annotations

from pathlib import Path

import typer

from .train import interrupts_name_the_checkpoint, train_app


@train_app.command("token-position")
def token_position(
    corpus: Path = typer.Option(..., "--corpus", help="Text file, folder or JSON Lines file."),
    out: Path = typer.Option(..., "--out", help="Encoder directory to write (checkpoints go there too)."),
    tokenizer: str = typer.Option("gpt2", help="'gpt2' (GPT-2 BPE, compact vocabulary), 'bpe' (a byte-level BPE trained on the corpus) or 'char' (characters, e.g. for names)."),
    vocab_size: int = typer.Option(8000, min=260, help="--tokenizer bpe: ids of the trained BPE (bytes and special ids included)."),
    context: int = typer.Option(16, min=1, help="Context length: tokens the model sees, and the training window."),
    dim: int = typer.Option(64, min=1, help="Embedding dimension."),
    hidden: int = typer.Option(128, min=1, help="Size of the tanh hidden layer."),
    stride: int = typer.Option(0, min=0, help="Tokens between window starts (1: maximal overlap; 0: the context, no overlap)."),
    pooling: str = typer.Option("embedding", help="Text vectors: mean of token+position 'embedding's, or of the 'hidden' layer."),
    epochs: int = typer.Option(5, min=1),
    batch_size: int = typer.Option(64, min=1, help="Windows per batch."),
    learning_rate: float = typer.Option(1e-2, help="AdamW learning rate."),
    validation_fraction: float = typer.Option(0.1, help="Share of the documents held out for validation."),
    min_count: int = typer.Option(1, min=1, help="Tokens rarer than this become <unk>."),
    seed: int = typer.Option(1),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint in --out."),
    unit: str = typer.Option("line", help="Text files: one document per 'line' or 'paragraph'."),
    text_field: str = typer.Option("text", help="JSON Lines: the field holding the text."),
):
    """Train the token+position embedder (Bengio-style next-token model).

    Examples:
      embedsearch train token-position --corpus lee_background.cor --out encoders/lee-tp --epochs 3
      embedsearch train token-position --corpus lee_background.cor --out encoders/lee-bpe --tokenizer bpe --vocab-size 4000
      embedsearch train token-position --corpus names.txt --out encoders/names --tokenizer char --context 5 --stride 1
    """
    from ..train.token_position import TokenPositionTraining, train_token_position

    training = TokenPositionTraining(
        tokenizer=tokenizer, bpe_vocab_size=vocab_size, context=context, dim=dim, hidden=hidden, stride=stride, pooling=pooling,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        validation_fraction=validation_fraction, min_count=min_count, seed=seed)
    with interrupts_name_the_checkpoint(out):
        result = train_token_position(corpus, out, training, unit=unit, text_field=text_field,
                                      resume=resume, report=typer.echo)
    config = result.encoder.config
    typer.echo(f"trained token-position model: {config.vocab_size:,} token ids, context {config.context}, "
               f"dimension {result.encoder.dim}; {result.train_tokens:,} training and "
               f"{result.validation_tokens:,} validation tokens -> {out}")
