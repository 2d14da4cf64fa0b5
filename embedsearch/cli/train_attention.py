"""`embedsearch train attention`: the contrastive attention encoder from a corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .train import interrupts_name_the_checkpoint, train_app


@train_app.command("attention")
def attention(
    corpus: Path = typer.Option(..., "--corpus", help="Text file, folder or JSON Lines file; one document per item."),
    out: Path = typer.Option(..., "--out", help="Encoder directory to write (checkpoints go there too)."),
    tokenizer: str = typer.Option("gpt2", help="'gpt2' (GPT-2 BPE, compact vocabulary) or 'bpe' (a byte-level BPE trained on the corpus)."),
    vocab_size: int = typer.Option(8000, min=260, help="--tokenizer bpe: ids of the trained BPE (bytes and special ids included)."),
    teacher: str = typer.Option("", help="Encoder to distil from, e.g. all-minilm-l6-v2 (any encoder spec; '' for none). Needed only while training."),
    distill_weight: float = typer.Option(10.0, min=0.0, help="Weight of the distillation loss beside InfoNCE."),
    dim: int = typer.Option(128, min=1, help="Model dimension (the vectors' length)."),
    heads: int = typer.Option(4, min=1, help="Attention heads per layer (must divide --dim)."),
    layers: int = typer.Option(2, min=1, help="Self-attention layers."),
    ff_dim: int = typer.Option(512, min=1, help="Width of each layer's feed-forward block."),
    max_length: int = typer.Option(128, min=1, help="Tokens read per text; longer texts are truncated."),
    chunk_words: int = typer.Option(48, min=1, help="Documents are cut into chunks of about this many words."),
    epochs: int = typer.Option(4, min=1),
    steps_per_epoch: int = typer.Option(100, min=1, help="Batches per epoch (fixed, whatever the corpus size)."),
    batch_size: int = typer.Option(64, min=2, help="Pairs per batch; the other pairs are each pair's negatives."),
    learning_rate: float = typer.Option(3e-4, help="Peak AdamW learning rate."),
    temperature: float = typer.Option(0.05, help="InfoNCE temperature (cosines are divided by it)."),
    init_vectors: str = typer.Option("glove-6b-50d", help="Word vectors to start the token embeddings from ('' for random)."),
    lexical_dim: int = typer.Option(2048, min=0, help="Width of the hashed bag-of-tokens channel beside the transformer (0: none)."),
    lexical_share: float = typer.Option(-1.0, max=1.0, help="Its share of the cosine; negative: chosen on the validation documents."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="Labelled pairs to mix in: TSV (two columns) or JSON Lines."),
    validation_fraction: float = typer.Option(0.1, help="Share of the documents held out for the validation loss."),
    seed: int = typer.Option(1),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint in --out."),
    unit: str = typer.Option("line", help="Text files: one document per 'line' or 'paragraph'."),
    text_field: str = typer.Option("text", help="JSON Lines: the field holding the text."),
):
    """Train the attention encoder (InfoNCE on chunks of the same document).

    With no other option it trains a useful encoder in minutes on 2 cores (400 batches).

    Examples:
      embedsearch train attention --corpus data/wiki_lee.txt --out encoders/attention
      embedsearch train attention --corpus news.txt --out encoders/student --teacher all-minilm-l6-v2
      embedsearch build --corpus notes.jsonl --encoder encoders/attention --out notes
    """
    from ..train.attention import AttentionTraining, train_attention

    training = AttentionTraining(
        tokenizer=tokenizer, bpe_vocab_size=vocab_size, teacher=teacher,
        distill_weight=distill_weight, dim=dim, heads=heads, layers=layers, ff_dim=ff_dim, max_length=max_length,
        chunk_words=chunk_words, epochs=epochs, steps_per_epoch=steps_per_epoch,
        batch_size=batch_size, learning_rate=learning_rate, temperature=temperature,
        init_vectors=init_vectors, lexical_dim=lexical_dim, lexical_share=lexical_share,
        pairs=str(pairs) if pairs else "",
        validation_fraction=validation_fraction, seed=seed)
    with interrupts_name_the_checkpoint(out):
        result = train_attention(corpus, out, training, unit=unit, text_field=text_field,
                                 resume=resume, report=typer.echo)
    config = result.encoder.config
    if result.teacher_agreement:
        typer.echo(f"agreement with {teacher} on the validation texts: "
                   f"{result.teacher_agreement[0]['agreement']:.3f} before training, "
                   f"{result.teacher_agreement[-1]['agreement']:.3f} after")
    typer.echo(f"trained attention encoder: {config.vocab_size:,} token ids "
               f"({result.initialised_tokens:,} started from {init_vectors or 'random'}), "
               f"{config.layers} layers, dimension {config.dim} + lexical {config.lexical_dim} "
               f"(share {config.lexical_share:g}); {result.train_documents:,} training "
               f"and {result.validation_documents:,} validation documents, "
               f"{result.tokens_per_second:,.0f} tokens/s -> {out}")
