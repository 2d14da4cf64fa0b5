"""Train the token+position embedder: next-token prediction over a sliding window.

Reads top to bottom: data (corpus -> documents -> tokenizer -> token stream ->
windows), model, optimiser, loop, evaluation, checkpoint, save.

- Documents are the corpus items (lines, paragraphs or JSON records). A seeded
  `validation_fraction` of them is held out. The tokenizer is fitted on the
  whole corpus (the index will hold all of it); only the weights see the split.
- Each document is encoded as <s> tokens </s> and the documents are joined
  into one stream. `sliding_windows` cuts it into windows of `context` tokens
  every `stride` tokens; the targets are the inputs shifted by one.
- The loss is the mean cross-entropy of every position of every window;
  perplexity is exp(loss). Validation windows never overlap.
- A checkpoint after every epoch (`train/loop.py`); the encoder directory is
  written at the end.

>>> inputs, targets = sliding_windows(list(range(10)), max_length=4, stride=4)
>>> inputs.tolist(), targets.tolist()
([[0, 1, 2, 3], [4, 5, 6, 7]], [[1, 2, 3, 4], [5, 6, 7, 8]])
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..corpus import read_corpus
from ..encoders.configs import TokenPositionConfig, check_settings, setting
from ..encoders.token_position import TokenPositionEncoder
from ..encoders.tokenizers import END_ID, PAD_ID, START_ID, UNKNOWN_ID, fit_tokenizer
from ..errors import InputError
from .loop import (EpochStats, run_epochs, save_checkpoint, seed_everything, split_train_validation,
                   start_run)


@dataclass
class TokenPositionTraining:
    """Everything that decides a training run: the model's config, then the training options.

    The model is named after the directory it is saved in, and its vocabulary
    size is the fitted tokenizer's: the trainer sets both.
    """

    model: TokenPositionConfig = field(default_factory=TokenPositionConfig)
    stride: int = setting(0, "Tokens between window starts (1: maximal overlap; 0: the context, "
                             "no overlap).", minimum=0)
    epochs: int = setting(5, "Passes over the training windows.", minimum=1)
    batch_size: int = setting(64, "Windows per batch.", minimum=1)
    learning_rate: float = setting(1e-2, "AdamW learning rate.")
    validation_fraction: float = setting(0.1, "Share of the documents held out for validation.")
    min_count: int = setting(1, "Tokens rarer than this become <unk>.", minimum=1)
    seed: int = setting(1, "Seed of every random draw (split, shuffles, initial weights).")

    def checked(self) -> "TokenPositionTraining":
        self.model.checked()
        check_settings(self, InputError)
        return self


@dataclass
class TokenPositionResult:
    """The trained encoder (already saved), its epochs, and how many tokens each split held."""

    encoder: TokenPositionEncoder
    history: list[EpochStats]
    train_tokens: int
    validation_tokens: int


def sliding_windows(stream: Sequence[int], max_length: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), each (windows, max_length): windows every `stride` tokens, targets shifted by one.

    stride == max_length: no overlap; stride == 1: a window at every token.
    A stream of n tokens gives (n - max_length - 1) // stride + 1 windows (0 if n <= max_length).
    """
    if max_length < 1 or stride < 1:
        raise InputError("max_length and stride must be at least 1")
    tokens = np.asarray(stream, dtype=np.int64)
    if len(tokens) <= max_length:
        empty = np.zeros((0, max_length), dtype=np.int64)
        return empty, empty.copy()
    windows = np.lib.stride_tricks.sliding_window_view(tokens, max_length + 1)[::stride]
    return np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, 1:])


def document_stream(tokenizer, texts: Sequence[str]) -> list[int]:
    """<s> tokens </s> of every text, joined into one stream."""
    stream: list[int] = []
    for ids in tokenizer.encode_batch(list(texts)):
        stream.append(START_ID)
        stream.extend(ids)
        stream.append(END_ID)
    return stream


def train_token_position(corpus: str | Path, out: str | Path,
                         training: TokenPositionTraining | None = None, *,
                         unit: str = "line", text_field: str = "text", resume: bool = False,
                         report: Callable[[str], None] | None = None,
                         show_progress: bool = True) -> TokenPositionResult:
    """Train on `corpus`, checkpoint every epoch in `out`, save the encoder directory `out`."""
    import torch

    training = (training or TokenPositionTraining()).checked()
    out = Path(out)
    seed_everything(training.seed)

    # Data: documents, tokenizer, streams, windows.
    texts = [item.text for item in read_corpus(corpus, unit=unit, text_field=text_field)
             if item.text.strip()]
    if not texts:
        raise InputError(f"no text found in {corpus}")
    tokenizer = fit_tokenizer(training.model.tokenizer, texts, min_count=training.min_count)
    train_texts, validation_texts = split_train_validation(texts, training.validation_fraction,
                                                          training.seed)
    stride = training.stride or training.model.context
    train_stream = document_stream(tokenizer, train_texts)
    validation_stream = document_stream(tokenizer, validation_texts)
    train_inputs, train_targets = sliding_windows(train_stream, training.model.context, stride)
    validation_inputs, validation_targets = sliding_windows(
        validation_stream, training.model.context, training.model.context)
    if len(train_inputs) == 0:
        raise InputError(f"{corpus} is too short: {len(train_stream)} training tokens for a "
                         f"context of {training.model.context}; use a smaller `context`")
    train_windows = torch.from_numpy(np.stack([train_inputs, train_targets], axis=1))  # (N, 2, T)
    validation_windows = torch.from_numpy(np.stack([validation_inputs, validation_targets], axis=1))

    # Model and optimiser.
    config = replace(training.model, name=out.name, vocab_size=tokenizer.vocab_size)
    model = TokenPositionEncoder.build_model(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=training.learning_rate, weight_decay=0.0)

    # Loop, with a checkpoint after each epoch.
    checkpoint_path, run_config, start_epoch, history = start_run(
        out, training, tokenizer, model=model, optimizer=optimizer, resume=resume, report=report)

    def batches_of(windows, epoch: int | None):
        order = (torch.randperm(len(windows), generator=torch.Generator().manual_seed(
            training.seed * 100_003 + epoch)) if epoch is not None else torch.arange(len(windows)))
        return [windows[order[i:i + training.batch_size]]
                for i in range(0, len(windows), training.batch_size)]

    def loss_of(model, batch):  # batch (B, 2, T): inputs and targets
        inputs, targets = batch[:, 0], batch[:, 1]
        logits = model(inputs)  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 targets.reshape(-1))
        return loss, targets.numel()

    def checkpoint(epoch, history):
        save_checkpoint(checkpoint_path, model=model, optimizer=optimizer, epoch=epoch,
                        config=run_config, history=history)

    history = run_epochs(
        model, optimizer, epochs=training.epochs, start_epoch=start_epoch,
        train_batches=lambda epoch: batches_of(train_windows, epoch), loss_of=loss_of,
        validation_batches=(lambda: batches_of(validation_windows, None)) if len(validation_windows) else None,
        checkpoint=checkpoint, history=history, report=report, show_progress=show_progress)

    encoder = TokenPositionEncoder(model, config, tokenizer)
    encoder.save(out)
    return TokenPositionResult(encoder, history, len(train_stream), len(validation_stream))


def sample(encoder: TokenPositionEncoder, n: int = 10, temperature: float = 1.0, seed: int = 1,
           max_tokens: int = 64) -> list[str]:
    """`n` documents generated from <s> until </s> (or `max_tokens`), decoded to text.

    Each step feeds the last `context` tokens and samples the next from the
    softmax at temperature `temperature` (lower: safer, higher: wilder).
    Padding, unknown and start ids are never sampled, nor </s> first.
    """
    import torch

    if n < 1 or max_tokens < 1:
        raise InputError("n and max_tokens must be at least 1")
    if temperature <= 0:
        raise InputError("temperature must be positive")
    model, context = encoder.model.eval(), encoder.config.context
    generator = torch.Generator().manual_seed(seed)
    sequences = torch.full((n, 1), START_ID, dtype=torch.long)
    finished = torch.zeros(n, dtype=torch.bool)
    with torch.inference_mode():
        for step in range(max_tokens):
            logits = model(sequences[:, -context:])[:, -1] / temperature  # (n, V)
            logits[:, [PAD_ID, UNKNOWN_ID, START_ID]] = float("-inf")
            if step == 0:  # no empty samples
                logits[:, END_ID] = float("-inf")
            next_ids = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
            next_ids[finished] = END_ID
            sequences = torch.cat([sequences, next_ids], dim=1)
            finished |= next_ids.squeeze(1) == END_ID
            if finished.all():
                break
    texts = []
    for row in sequences.tolist():
        body = row[1:]
        body = body[:body.index(END_ID)] if END_ID in body else body
        texts.append(encoder.tokenizer.decode(body))
    return texts
