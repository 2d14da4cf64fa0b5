"""Commands that use an encoder directly: sample (text from a token+position model), embed (a file to .npy)."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app


@app.command()
def sample(
    encoder: str = typer.Option(..., "--encoder", help="A token-position encoder directory."),
    n: int = typer.Option(10, "--n", min=1, help="How many samples."),
    temperature: float = typer.Option(0.8, help="Softmax temperature: lower is safer, higher wilder."),
    seed: int = typer.Option(1),
    max_tokens: int = typer.Option(64, min=1, help="Stop a sample after this many tokens."),
):
    """Generate text (or names) from a token+position model, one sample per line.

    Example:
      embedsearch sample --encoder encoders/names --n 10 --temperature 0.8 --seed 1
    """
    from ..encoders import load_encoder
    from ..encoders.token_position import TokenPositionEncoder
    from ..errors import InputError
    from ..train.token_position import sample as generate

    model = load_encoder(encoder)
    if not isinstance(model, TokenPositionEncoder):
        raise InputError(f"{encoder} is a {model.kind} encoder: sampling needs a token-position model")
    for text in generate(model, n, temperature, seed, max_tokens):
        typer.echo(" ".join(text.split()))


@app.command()
def embed(
    encoder: str = typer.Option(..., "--encoder", help="Built-in name, vectors file or encoder directory."),
    input_file: Path = typer.Option(..., "--input", help="Text file: one text per line."),
    output: Path = typer.Option(..., "--output", help="The .npy file to write (float32, one row per line)."),
):
    """Encode every line of a file; row i of the .npy output is line i + 1.

    Example:
      embedsearch embed --encoder glove-6b-50d --input questions.txt --output questions.npy
    """
    from ..encoders.embed_file import embed_file
    from ..encoders import load_encoder

    model = load_encoder(encoder)
    count = embed_file(model, input_file, output)
    typer.echo(f"wrote {count:,} vectors of dimension {model.dim} -> {output}")
