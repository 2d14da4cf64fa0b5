"""Train the attention encoder contrastively: InfoNCE over positive pairs drawn from a corpus.

`train_attention` reads top to bottom: data (documents, a tokenizer fitted
on all of them, chunks of the training and validation split, the teacher's
vectors), model (token rows from word vectors or the teacher, the lexical
channel fitted on the corpus), optimiser (AdamW, warm-up then 1 / sqrt
decay), loop (`train/loop.py`: a checkpoint after every epoch, `--resume`),
evaluation (the lexical share that serves the validation documents best),
save. Each choice and why, with figures: docs/encoders.md ("The trained
attention encoder") and docs/encoders-results.md.

>>> training = AttentionTraining(teacher="all-minilm-l6-v2").resolved()
>>> training.epochs, training.temperature, training.start_vectors()
(4, 0.05, 'teacher')
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..corpus import chunk_text, read_corpus
from ..encoders.attention import (AttentionEncoder, teacher_token_embeddings,
                                  word_vector_embeddings)
from ..encoders.configs import AttentionConfig
from ..encoders.lexical import best_share, channel_vectors, choose_share, fit_lexical_channel
from ..encoders.settings import check_settings, setting
from ..encoders.tokenizers import DEFAULT_BPE_VOCAB_SIZE, FIRST_TOKEN_ID, fit_tokenizer
from ..errors import InputError
from .contrastive import PairBatches, PairLoss
from .distill import Distillation
from .loop import EpochStats, run_epochs, save_checkpoint, seed_everything, split_train_validation, \
    start_run
from .pairs import PairSampler, read_labelled_pairs
from .schedule import ScheduledOptimizer

TRAINING_FILE = "training.json"
MIN_CHOICE_DOCUMENTS = 5  # validation documents of 2+ chunks needed to choose the lexical share
VALIDATION_BATCHES = 8  # batches of held-out pairs for the validation loss
FREQUENCY_SMOOTHING = 3e-4  # a of the SIF weights a / (a + p(token)) that scale the first token rows
AUTO_VECTORS, TEACHER_VECTORS, DEFAULT_VECTORS = "auto", "teacher", "glove-6b-50d"
# What epochs and temperature of 0 mean (`AttentionTraining.resolved`).
ALONE_RECIPE = {"epochs": 1, "temperature": 0.2}
TEACHER_RECIPE = {"epochs": 4, "temperature": 0.05}


@dataclass
class AttentionTraining:
    """Everything that decides a training run: the model's config, then the training options.

    The model is named after the directory it is saved in, and its vocabulary
    size is the fitted tokenizer's: the trainer sets both.
    """

    model: AttentionConfig = field(default_factory=AttentionConfig)
    tokenizer: str = setting("gpt2", "'gpt2' (GPT-2 BPE, compact vocabulary) or 'bpe' (a "
                                     "byte-level BPE trained on the corpus).")
    bpe_vocab_size: int = setting(DEFAULT_BPE_VOCAB_SIZE, "With the tokenizer 'bpe': its ids "
                                  "(the 256 bytes and 4 special ids included).",
                                  minimum=FIRST_TOKEN_ID + 256)
    min_count: int = setting(1, "Keep only the tokens ('gpt2') or merges ('bpe') seen at least "
                                "this many times in the corpus.", minimum=1)
    teacher: str = setting("", "Encoder to distil from, e.g. all-minilm-l6-v2 (any encoder "
                               "spec; '' for none). Needed only while training.")
    distill_weight: float = setting(50.0, "Weight of the distillation loss beside InfoNCE.",
                                    minimum=0.0)
    distill_share: float = setting(0.5, "Lexical share of the cosines the distillation loss "
                                        "compares (0: the transformer's alone; above 0 it learns "
                                        "what the lexical channel misses).", minimum=0.0,
                                   maximum=0.9)
    chunk_words: int = setting(48, "Documents are cut into chunks of about this many words.",
                               minimum=1)
    epochs: int = setting(0, "Passes of steps_per_epoch batches (0: 1 alone, 4 with a teacher).",
                          minimum=0)
    steps_per_epoch: int = setting(100, "Batches per epoch (fixed, whatever the corpus size).",
                                   minimum=1)
    batch_size: int = setting(64, "Pairs per batch; the other pairs are each pair's negatives.",
                              minimum=2)
    learning_rate: float = setting(3e-4, "Peak AdamW learning rate.")
    warmup_steps: int = setting(50, "Steps over which the learning rate rises to its peak; it "
                                    "then decays as 1 / sqrt(step).", minimum=0)
    temperature: float = setting(0.0, "InfoNCE temperature: cosines are divided by it (0: 0.2 "
                                      "alone, 0.05 with a teacher).", minimum=0.0)
    init_vectors: str = setting(AUTO_VECTORS, "What the token embeddings start from: word vectors "
                                              "(an encoder spec), 'teacher' (the teacher's vectors "
                                              "of each token), '' (random), or 'auto' (the "
                                              f"teacher's with a teacher, else {DEFAULT_VECTORS}).")
    lexical_share: float = setting(-1.0, "The lexical channel's share of the cosine; negative: "
                                         "chosen on the validation documents.", maximum=1.0)
    pairs: str = setting("", "Labelled pairs to mix in: TSV (two columns) or JSON Lines.")
    validation_fraction: float = setting(0.1, "Share of the documents held out for the "
                                              "validation loss.")
    seed: int = setting(1, "Seed of every random draw (splits, pairs, initial weights).")

    def checked(self) -> "AttentionTraining":
        self.model.checked()
        check_settings(self, InputError)
        if self.tokenizer not in ("gpt2", "bpe"):
            raise InputError(f"unknown tokenizer {self.tokenizer!r}: use gpt2 or bpe")
        if self.learning_rate <= 0:
            raise InputError("learning_rate must be positive")
        if self.init_vectors == TEACHER_VECTORS and not self.teacher:
            raise InputError("init_vectors 'teacher' needs a teacher: give one (teacher), or "
                             "start from word vectors")
        return self

    def resolved(self) -> "AttentionTraining":
        """A copy with `epochs` and `temperature` of 0 set by whether there is a teacher.

        Alone: one pass at temperature 0.2; more passes teach the transformer
        a small corpus' own topics. With a teacher: four passes at 0.05, which
        the distillation needs (docs/encoders-results.md).
        """
        recipe = TEACHER_RECIPE if self.teacher else ALONE_RECIPE
        return replace(self, **{name: value for name, value in recipe.items()
                                if not getattr(self, name)})

    def start_vectors(self) -> str:
        """`init_vectors` with 'auto' resolved."""
        if self.init_vectors != AUTO_VECTORS:
            return self.init_vectors
        return TEACHER_VECTORS if self.teacher else DEFAULT_VECTORS


@dataclass
class AttentionResult:
    encoder: AttentionEncoder
    history: list[EpochStats]
    train_documents: int
    validation_documents: int
    initialised_tokens: int
    tokens_per_second: float
    lexical_choice: list[dict]  # the validation score of each share tried ([] if not chosen)
    teacher_agreement: list[dict]  # {epoch, agreement} with the teacher ([] without one)


def train_attention(corpus: str | Path, out: str | Path,
                    training: AttentionTraining | None = None, *,
                    unit: str = "line", text_field: str = "text", resume: bool = False,
                    report: Callable[[str], None] | None = None,
                    show_progress: bool = True) -> AttentionResult:
    """Train on `corpus`, checkpoint every epoch in `out`, save the encoder directory `out`."""
    training = (training or AttentionTraining()).checked().resolved()
    out = Path(out)
    seed_everything(training.seed)

    # Data: documents (the tokenizer sees them all, the weights only the training split),
    # chunks, and the teacher's vectors of them, computed once.
    texts = [item.text for item in read_corpus(corpus, unit=unit, text_field=text_field)]
    if not texts:
        raise InputError(f"no text found in {corpus}")
    labelled = read_labelled_pairs(training.pairs) if training.pairs else []
    tokenizer = fit_tokenizer(training.tokenizer, texts + [text for pair in labelled for text in pair],
                              min_count=training.min_count, vocab_size=training.bpe_vocab_size)
    train_texts, validation_texts = split_train_validation(texts, training.validation_fraction,
                                                          training.seed)
    train_chunks = [chunk_text(text, training.chunk_words) for text in train_texts]
    validation_chunks = [chunk_text(text, training.chunk_words) for text in validation_texts]
    batches = PairBatches(tokenizer, training.model.max_length, training.batch_size)
    teacher = distillation = None
    if training.teacher:
        from ..encoders import load_encoder

        teacher = load_encoder(training.teacher)
        distillation = Distillation(teacher, train_chunks, train_texts, validation_chunks,
                                    validation_texts, tokenize=batches.tokenized,
                                    batch_size=training.batch_size, weight=training.distill_weight,
                                    share=training.distill_share, seed=training.seed)
    validation = batches.validation(validation_chunks, VALIDATION_BATCHES, training.seed)

    # Model: token rows from word vectors or the teacher; the lexical channel fitted on every document.
    config = replace(training.model, name=out.name, tokenizer=training.tokenizer,
                     vocab_size=tokenizer.vocab_size, lexical_share=max(training.lexical_share, 0.0))
    model = AttentionEncoder.build_model(config)
    initialised = start_token_embeddings(model, tokenizer, training, teacher)
    if config.lexical_dim:
        fit_lexical_channel(model, tokenizer, texts)

    # Optimiser.
    optimizer = ScheduledOptimizer(model.parameters(), training.learning_rate, training.warmup_steps)

    # Loop: InfoNCE (+ distillation) on fresh pairs each epoch; after each, a checkpoint and the
    # agreement with the teacher.
    checkpoint_path, run_config, start_epoch, history = start_run(
        out, training, tokenizer, model=model, optimizer=optimizer, resume=resume, report=report)
    loss = PairLoss(training.temperature, distillation)
    teacher_agreement = []

    def end_epoch(epoch: int, history: list[EpochStats]) -> None:
        save_checkpoint(checkpoint_path, model=model, optimizer=optimizer, epoch=epoch,
                        config=run_config, history=history)
        agreement = record_agreement(teacher_agreement, distillation, model, epoch)
        if report:
            report(epoch_line(history[-1], training.epochs, training.batch_size, agreement))

    started = time.perf_counter()
    record_agreement(teacher_agreement, distillation, model, start_epoch)  # before the first step
    history = run_epochs(
        model, optimizer, epochs=training.epochs, start_epoch=start_epoch,
        train_batches=partial(epoch_batches, batches, train_chunks, labelled, training, distillation),
        loss_of=loss, validation_batches=(lambda: validation) if validation else None,
        checkpoint=end_epoch, history=history, show_progress=show_progress)

    # Evaluation: the lexical share that serves the validation documents best.
    encoder = AttentionEncoder(model, config, tokenizer)
    lexical_choice = []
    if config.lexical_dim and training.lexical_share < 0:
        lexical_choice = score_lexical_shares(encoder, validation_chunks, distillation)
        encoder.set_lexical_share(best_share(lexical_choice))
    seconds = time.perf_counter() - started
    training_seconds = sum(stats.seconds for stats in history[start_epoch:])
    tokens_per_second = loss.trained_tokens / training_seconds if training_seconds > 0 else 0.0

    # Save.
    encoder.save(out)
    (out / TRAINING_FILE).write_text(json.dumps({
        "training": asdict(training), "corpus": str(corpus), "documents": len(texts),
        "initialised_tokens": initialised, "lexical_share": config.lexical_share,
        "lexical_choice": lexical_choice, "teacher_agreement": teacher_agreement,
        "seconds": round(seconds, 1),
        "trained_tokens": loss.trained_tokens, "tokens_per_second": round(tokens_per_second, 1),
        "history": [asdict(stats) for stats in history]}, indent=2) + "\n")
    return AttentionResult(encoder, history, len(train_texts), len(validation_texts),
                           initialised, tokens_per_second, lexical_choice, teacher_agreement)


def epoch_batches(batches: PairBatches, document_chunks, labelled, training: AttentionTraining,
                  distillation: Distillation | None, epoch: int) -> list:
    """One epoch's batches: pairs, each beside a batch of the teacher's pool when distilling.

    Seeded by the epoch, so a resumed run draws the pairs an uninterrupted one would.
    """
    sampler = PairSampler(document_chunks, labelled=labelled, seed=training.seed * 100_003 + epoch)
    pairs = batches.draw(sampler, training.steps_per_epoch)
    if distillation is None:
        return pairs
    return list(zip(pairs, distillation.batches(epoch, training.steps_per_epoch)))


def record_agreement(rows: list[dict], distillation: Distillation | None, model,
                     epoch: int) -> float | None:
    """Append {epoch, agreement} with the teacher on the validation texts to `rows`; the
    agreement as recorded (None without a teacher or validation texts)."""
    agreement = distillation.agreement(model) if distillation else None
    if agreement is None:
        return None
    rows.append({"epoch": epoch, "agreement": round(agreement, 4)})
    return rows[-1]["agreement"]


def start_token_embeddings(model, tokenizer, training: AttentionTraining, teacher) -> int:
    """Set the first token rows; returns how many tokens started from a vector.

    From the teacher's vectors of each token or from word vectors
    (`start_vectors`), random otherwise; then scaled by smooth inverse
    frequency (`frequency_weights`), so training starts from a SIF-weighted
    mean of word vectors rather than from noise.
    """
    import torch

    source, rows, initialised = training.start_vectors(), None, 0
    dim = model.token_embedding.embedding_dim
    if source == TEACHER_VECTORS:
        rows, initialised = teacher_token_embeddings(tokenizer, teacher, dim, seed=training.seed)
    elif source:
        from ..encoders import load_encoder

        vocabulary = load_encoder(source).vocabulary()
        if vocabulary is None:
            raise InputError(f"{source} has no word vectors to start from")
        rows, initialised = word_vector_embeddings(tokenizer, vocabulary[0], vocabulary[1], dim,
                                                   seed=training.seed)
    with torch.no_grad():
        if rows is not None:
            model.token_embedding.weight.copy_(rows)
        weights = frequency_weights(tokenizer.counts, FREQUENCY_SMOOTHING)
        model.token_embedding.weight.mul_(weights.unsqueeze(1))
    return initialised


def frequency_weights(counts: Sequence[int], smoothing: float):
    """a / (a + p) per token id, p its share of the corpus' tokens (special ids: 1).

    Smooth inverse frequency (Arora et al. 2017, "A simple but tough-to-beat
    baseline for sentence embeddings"): scaling each token's starting row by
    this weight makes the untrained model a SIF-weighted mean of word vectors,
    in which "the" and "," weigh little and rare, topical tokens a lot.
    """
    import torch

    counts = torch.tensor(counts, dtype=torch.float64)
    weights = smoothing / (smoothing + counts / counts.sum())
    return torch.cat([torch.ones(FIRST_TOKEN_ID, dtype=torch.float64), weights]).float()


def score_lexical_shares(encoder: AttentionEncoder, validation_chunks: Sequence[Sequence[str]],
                         distillation: Distillation | None) -> list[dict]:
    """Each lexical share's score on the validation documents (`lexical.choose_share`).

    With a teacher: the mixed cosines' agreement with the teacher's. Alone:
    retrieval, each chunk a query and the other chunks of its document
    relevant, as in `embedsearch eval retrieval` (at most 8 evenly spaced
    chunks per document), scored recall@10 + MRR; [] when fewer than
    `MIN_CHOICE_DOCUMENTS` documents have two chunks or more (too little to
    choose on). Never on the data the encoder will be evaluated on.
    """
    from ..evaluate.retrieval import spaced_chunks

    if distillation is not None and distillation.check is not None:
        return choose_share(*channel_vectors(encoder, distillation.check.texts),
                            distillation.share_score)
    documents = [spaced_chunks(chunks) for chunks in validation_chunks if len(chunks) > 1]
    if len(documents) < MIN_CHOICE_DOCUMENTS:
        return []
    texts = [chunk for chunks in documents for chunk in chunks]
    labels = [str(number) for number, chunks in enumerate(documents) for _ in chunks]
    return choose_share(*channel_vectors(encoder, texts), partial(retrieval_score, labels=labels))


def retrieval_score(vectors: np.ndarray, labels: Sequence[str]) -> dict:
    """{recall@10, mrr, score = recall@10 + mrr} of chunks retrieving their document's other chunks."""
    from ..evaluate.retrieval import evaluate_matrix

    result = evaluate_matrix(vectors, labels)
    recall, mrr = round(result.recall_at_k, 4), round(result.mrr, 4)
    return {"recall@10": recall, "mrr": mrr, "score": round(recall + mrr, 4)}


def epoch_line(stats: EpochStats, epochs: int, batch_size: int,
               agreement: float | None = None) -> str:
    """One epoch's losses; InfoNCE over B pairs starts near ln(B) and 0 is perfect."""
    text = f"epoch {stats.epoch}/{epochs}: train loss {stats.train_loss:.4f}"
    if stats.validation_loss is not None:
        text += f", validation loss {stats.validation_loss:.4f}"
    text += f" (InfoNCE{' + distillation' if agreement is not None else ''}, {batch_size} pairs a batch)"
    if agreement is not None:
        text += f", agreement with the teacher {agreement:.3f}"
    return text + f", {stats.items / max(stats.seconds, 1e-9):,.0f} pairs/s"
