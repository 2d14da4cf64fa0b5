"""Train the attention encoder contrastively: InfoNCE over positive pairs drawn from a corpus.

Reads top to bottom: data (corpus -> documents -> tokenizer -> chunks ->
pairs), model (initialised from word vectors), optimiser (AdamW with warm-up
and 1 / sqrt decay), loop (`train/loop.py`: running loss, validation loss,
checkpoint after every epoch, `--resume`), save.

- Documents are the corpus items (lines, paragraphs or JSON records); a
  seeded `validation_fraction` of them is held out for the validation loss.
  The compact GPT-2 tokenizer is fitted on the whole corpus (the index will
  hold all of it; only the weights see the split). GPT-2 BPE with a
  compacted vocabulary rather than a BPE trained on the corpus: it needs no
  extra dependency, is deterministic, covers any text, and a small corpus
  still gives a small embedding table.
- The token embeddings start from word vectors (GloVe 6B 50d by default),
  scaled by smooth inverse frequency (`frequency_weights`), so training
  starts from a SIF-weighted mean of word vectors, a strong baseline.
- Each document is cut into chunks of about `chunk_words` words
  (`embedsearch.chunks`); `PairSampler` draws positive pairs (neighbouring
  chunks, two augmented views of one chunk, labelled pairs if given), each
  pair of a batch from a different document.
- An epoch is `steps_per_epoch` batches, whatever the corpus size, so the
  training time does not grow with the corpus (the defaults: 100 steps of
  64 pairs, 4 x 100 with a teacher: `AttentionTraining.resolved`; times in
  docs/benchmarks.md).
- The loss is InfoNCE with in-batch negatives, symmetric (`train/losses.py`),
  on the transformer's channel. The lexical channel (`lexical_dim`, see
  `encoders/attention.py`) has no trained weights: its tokens are case-folded
  and weighted by inverse document frequency (`fold_lexical_channel`), and
  once training ends the share of the
  cosine it gets is the one, among 0, 0.1, ..., 1, that retrieves best (recall@10
  + MRR, one chunk against the other chunks of its document) on the
  validation documents (`choose_lexical_share`), never on the data the
  encoder will be evaluated on.
- With a teacher (`train/distill.py`), the token embeddings start from the
  teacher's vectors of each token (`teacher_token_embeddings`), and the
  distillation loss compares the teacher's cosines with those of the
  student's mixed vectors at lexical share `distill_share`: the transformer
  learns what the bag of tokens misses instead of repeating it. The share is
  then the one whose mixed cosines agree best with the teacher on the
  validation documents.
- The encoder directory is written when the last epoch ends, not at the
  lowest validation loss (InfoNCE on pairs of held-out documents): that
  loss does not follow held-out quality (at temperature 0.2 on the Lee
  articles it is lowest after the third epoch, but the encoder agrees
  better with a sentence encoder after one epoch than after four).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..corpus import chunk_text
from ..corpus import read_corpus
from ..encoders.attention import (AttentionEncoder, teacher_token_embeddings,
                                  word_vector_embeddings)
from ..encoders.configs import AttentionConfig
from ..encoders.lexical import best_share, channel_vectors, choose_share, fit_lexical_channel
from ..encoders.settings import check_settings, setting
from ..encoders.tokenizers import (DEFAULT_BPE_VOCAB_SIZE, FIRST_TOKEN_ID, PAD_ID, UNKNOWN_ID,
                                   fit_tokenizer)
from ..errors import InputError
from .loop import EpochStats, run_epochs, save_checkpoint, seed_everything, split_train_validation, \
    start_run
from .distill import Distillation
from .pairs import PairConfig, PairSampler, read_labelled_pairs

TRAINING_FILE = "training.json"
MIN_CHOICE_DOCUMENTS = 5  # validation documents of 2+ chunks needed to choose the lexical share
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
    warmup_steps: int = 50
    temperature: float = setting(0.0, "InfoNCE temperature: cosines are divided by it (0: 0.2 "
                                      "alone, 0.05 with a teacher).", minimum=0.0)
    window: int = 2
    neighbour_share: float = 0.7
    word_dropout: float = 0.1
    min_crop: float = 0.6
    init_vectors: str = setting(AUTO_VECTORS, "What the token embeddings start from: word vectors "
                                              "(an encoder spec), 'teacher' (the teacher's vectors "
                                              "of each token), '' (random), or 'auto' (the "
                                              f"teacher's with a teacher, else {DEFAULT_VECTORS}).")
    lexical_share: float = setting(-1.0, "The lexical channel's share of the cosine; negative: "
                                         "chosen on the validation documents.", maximum=1.0)
    frequency_smoothing: float = 3e-4   # SIF start: rows scaled by a / (a + p(token)); 0: off
    lexical_weights: str = "idf"  # the lexical channel's: 'idf' (case-folded), or 'sif' (as before)
    pairs: str = setting("", "Labelled pairs to mix in: TSV (two columns) or JSON Lines.")
    validation_fraction: float = setting(0.1, "Share of the documents held out for the "
                                              "validation loss.")
    validation_batches: int = 8
    min_count: int = 1
    seed: int = setting(1, "Seed of every random draw (splits, pairs, initial weights).")

    def checked(self) -> "AttentionTraining":
        self.model.checked()
        check_settings(self, InputError)
        if self.min_count < 1:
            raise InputError(f"AttentionTraining.min_count must be at least 1, got {self.min_count}")
        if self.tokenizer not in ("gpt2", "bpe"):
            raise InputError(f"unknown tokenizer {self.tokenizer!r}: use gpt2 or bpe")
        if self.learning_rate <= 0:
            raise InputError("learning_rate must be positive")
        if not (0 <= self.word_dropout < 1 and 0 < self.min_crop <= 1 and 0 <= self.neighbour_share <= 1):
            raise InputError("word_dropout must be in [0, 1), min_crop in (0, 1], neighbour_share in [0, 1]")
        if self.lexical_weights not in ("idf", "sif"):
            raise InputError(f"unknown lexical_weights {self.lexical_weights!r}: use idf or sif")
        if self.init_vectors == TEACHER_VECTORS and not self.teacher:
            raise InputError("init_vectors 'teacher' needs a teacher: give one (teacher), or "
                             "start from word vectors")
        return self

    def resolved(self) -> "AttentionTraining":
        """A copy with `epochs` and `temperature` of 0 set by whether there is a teacher.

        Alone: one pass at temperature 0.2, the best of the runs on held-out
        tasks. More passes teach the transformer a small corpus' own topics:
        on held-out articles its cosines then agree less with a sentence
        encoder's, and the mixed vectors retrieve no better. With a teacher:
        four passes at 0.05, which the distillation needs (figures in
        docs/encoders-results.md).
        """
        recipe = TEACHER_RECIPE if self.teacher else ALONE_RECIPE
        return replace(self, **{name: value for name, value in recipe.items()
                                if not getattr(self, name)})

    def start_vectors(self) -> str:
        """`init_vectors` with 'auto' resolved."""
        if self.init_vectors != AUTO_VECTORS:
            return self.init_vectors
        return TEACHER_VECTORS if self.teacher else DEFAULT_VECTORS

    def pair_config(self) -> PairConfig:
        return PairConfig(window=self.window, neighbour_share=self.neighbour_share,
                          min_crop=self.min_crop, word_dropout=self.word_dropout)


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


class ScheduledOptimizer:
    """AdamW whose learning rate warms up linearly, then decays as 1 / sqrt(step).

    The curve does not depend on the number of epochs, so a run resumed with
    more epochs follows exactly the curve of a run that asked for them from
    the start. `run_epochs` calls `zero_grad`, `step`, `state_dict` and
    `load_state_dict` (through the checkpoints); the schedule's position is
    saved with the optimizer state.
    """

    def __init__(self, parameters, learning_rate: float, warmup_steps: int):
        import torch

        self.optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.01,
                                           fused=True)
        warmup_steps = max(1, warmup_steps)

        def factor(step: int) -> float:
            step += 1
            return min(step / warmup_steps, math.sqrt(warmup_steps / step))

        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.optimizer.step()
        self.schedule.step()

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])


def padded_batch(token_lists: Sequence[Sequence[int]], max_length: int):
    """(len, T) long tensor of the first `max_length` ids of each list, PAD_ID-padded to the longest.

    An empty list becomes one <unk>: a row of padding only would attend to nothing.
    """
    import torch

    lists = [list(ids[:max_length]) or [UNKNOWN_ID] for ids in token_lists]
    batch = torch.full((len(lists), max(len(ids) for ids in lists)), PAD_ID, dtype=torch.long)
    for row, ids in enumerate(lists):
        batch[row, :len(ids)] = torch.as_tensor(ids)
    return batch


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


def train_attention(corpus: str | Path, out: str | Path,
                    training: AttentionTraining | None = None, *,
                    unit: str = "line", text_field: str = "text", resume: bool = False,
                    report: Callable[[str], None] | None = None,
                    show_progress: bool = True) -> AttentionResult:
    """Train on `corpus`, checkpoint every epoch in `out`, save the encoder directory `out`."""
    import torch

    from .losses import info_nce  # torch: imported when training starts, not with the CLI

    training = (training or AttentionTraining()).checked()
    training = training.resolved()
    out = Path(out)
    seed_everything(training.seed)

    # Data: documents, tokenizer, chunks, pair samplers.
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

    def tokenize(texts: Sequence[str]):
        return padded_batch(tokenizer.encode_batch(list(texts)), training.model.max_length)

    def batches_of(sampler: PairSampler, count: int, size: int = training.batch_size) -> list:
        batches = []
        for _ in range(count):
            anchors, positives = sampler.batch(size)
            batches.append(tokenize(anchors + positives))
        return batches

    # The teacher's vectors of the training texts, computed once (`train/distill.py`).
    distillation = teacher = None
    if training.teacher:
        from ..encoders import load_encoder

        teacher = load_encoder(training.teacher)
        distillation = Distillation(teacher, train_chunks, train_texts,
                                    validation_chunks, validation_texts, tokenize=tokenize,
                                    batch_size=training.batch_size, weight=training.distill_weight,
                                    pair_config=training.pair_config(), seed=training.seed)

    def train_batches(epoch: int) -> list:
        # Seeded by the epoch: a resumed run draws the same pairs as an uninterrupted one.
        sampler = PairSampler(train_chunks, config=training.pair_config(), labelled=labelled,
                              seed=training.seed * 100_003 + epoch)
        pairs = batches_of(sampler, training.steps_per_epoch)
        if distillation is None:
            return pairs
        return list(zip(pairs, distillation.batches(epoch, training.steps_per_epoch)))

    # Validation batches hold at most one pair per document (else negatives would be positives).
    validation_size = min(training.batch_size, sum(1 for chunks in validation_chunks if chunks))
    validation = (batches_of(PairSampler(validation_chunks, config=training.pair_config(),
                                         seed=training.seed), training.validation_batches,
                             validation_size)
                  if validation_size >= 2 else None)

    # Model, initialised from word vectors.
    config = replace(training.model, name=out.name, tokenizer=training.tokenizer,
                     vocab_size=tokenizer.vocab_size,
                     lexical_share=max(training.lexical_share, 0.0),
                     # Reserved dimensions are given out by fold_lexical_channel (IDF weights).
                     lexical_reserved=(training.model.lexical_reserved
                                       if training.lexical_weights == "idf" else 0.0))
    model = AttentionEncoder.build_model(config)
    initialised = 0
    init_vectors = training.start_vectors()
    if init_vectors == TEACHER_VECTORS:
        rows, initialised = teacher_token_embeddings(tokenizer, teacher, config.dim,
                                                     seed=training.seed)
        with torch.no_grad():
            model.token_embedding.weight.copy_(rows)
    elif init_vectors:
        from ..encoders import load_encoder

        vectors = load_encoder(init_vectors).vocabulary()
        if vectors is None:
            raise InputError(f"{init_vectors} has no word vectors to start from")
        rows, initialised = word_vector_embeddings(tokenizer, vectors[0], vectors[1], config.dim,
                                                   seed=training.seed)
        with torch.no_grad():
            model.token_embedding.weight.copy_(rows)
    if training.frequency_smoothing > 0:
        weights = frequency_weights(tokenizer.counts, training.frequency_smoothing)
        with torch.no_grad():
            model.token_embedding.weight.mul_(weights.unsqueeze(1))
            if config.lexical_dim and training.lexical_weights == "sif":
                model.lexical_weights[FIRST_TOKEN_ID:] = weights[FIRST_TOKEN_ID:]
    if config.lexical_dim and training.lexical_weights == "idf":
        fit_lexical_channel(model, tokenizer, texts)

    # Optimiser, and the loop with a checkpoint after each epoch.
    optimizer = ScheduledOptimizer(model.parameters(), training.learning_rate, training.warmup_steps)
    checkpoint_path, run_config, start_epoch, history = start_run(
        out, training, tokenizer, model=model, optimizer=optimizer, resume=resume, report=report)

    trained_tokens = 0
    started = time.perf_counter()

    def loss_of(model, batch):  # pairs (2B, T): B anchors, then their B positives
        nonlocal trained_tokens
        pairs, distilled = batch if isinstance(batch, tuple) else (batch, None)
        if model.training:
            trained_tokens += int((pairs != PAD_ID).sum())
        vectors = model.semantic(pairs)  # (2B, C)
        half = len(pairs) // 2
        loss = info_nce(vectors[:half], vectors[half:], training.temperature, symmetric=True)
        if distilled is not None:
            loss = loss + distillation.loss(distilled_vectors, distilled)
        return loss, half

    def distilled_vectors(token_ids):  # what the distillation loss compares with the teacher
        if not training.distill_share or not config.lexical_dim:
            return model.semantic(token_ids)
        return model.mixed(token_ids, training.distill_share)

    teacher_agreement = []

    def measure_agreement(epoch: int) -> None:
        agreement = None if distillation is None else distillation.agreement(distilled_vectors)
        if agreement is not None:
            teacher_agreement.append({"epoch": epoch, "agreement": round(agreement, 4)})

    def checkpoint(epoch: int, history: list[EpochStats]) -> None:
        save_checkpoint(checkpoint_path, model=model, optimizer=optimizer, epoch=epoch,
                        config=run_config, history=history)
        measure_agreement(epoch)
        if report:
            agreement = teacher_agreement[-1]["agreement"] if teacher_agreement else None
            report(_epoch_line(history[-1], training.epochs, training.batch_size, agreement))

    measure_agreement(start_epoch)  # before this run's first step

    history = run_epochs(
        model, optimizer, epochs=training.epochs, start_epoch=start_epoch,
        train_batches=train_batches, loss_of=loss_of,
        validation_batches=(lambda: validation) if validation else None,
        checkpoint=checkpoint, history=history, show_progress=show_progress)
    encoder = AttentionEncoder(model, config, tokenizer)
    lexical_choice = []
    if config.lexical_dim and training.lexical_share < 0:
        lexical_choice = score_lexical_shares(encoder, validation_chunks, distillation)
        encoder.set_lexical_share(best_share(lexical_choice))
    seconds = time.perf_counter() - started
    training_seconds = sum(stats.seconds for stats in history[start_epoch:])

    encoder.save(out)
    tokens_per_second = trained_tokens / training_seconds if training_seconds > 0 else 0.0
    (out / TRAINING_FILE).write_text(json.dumps({
        "training": asdict(training), "corpus": str(corpus), "documents": len(texts),
        "initialised_tokens": initialised, "lexical_share": config.lexical_share,
        "lexical_choice": lexical_choice, "teacher_agreement": teacher_agreement,
        "seconds": round(seconds, 1),
        "trained_tokens": trained_tokens, "tokens_per_second": round(tokens_per_second, 1),
        "history": [asdict(stats) for stats in history]}, indent=2) + "\n")
    return AttentionResult(encoder, history, len(train_texts), len(validation_texts),
                           initialised, tokens_per_second, lexical_choice, teacher_agreement)


def score_lexical_shares(encoder: AttentionEncoder, validation_chunks: Sequence[Sequence[str]],
                         distillation: Distillation | None) -> list[dict]:
    """Each lexical share's score on the validation documents (`lexical.choose_share`).

    With a teacher: the mixed cosines' agreement with the teacher's. Alone:
    retrieval, each chunk a query and the other chunks of its document
    relevant, as in `embedsearch eval retrieval` (at most 8 evenly spaced
    chunks per document), scored recall@10 + MRR; [] when fewer than
    `MIN_CHOICE_DOCUMENTS` documents have two chunks or more (too little to
    choose on).
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


def _epoch_line(stats: EpochStats, epochs: int, batch_size: int,
                agreement: float | None = None) -> str:
    """One epoch's losses; InfoNCE over B pairs starts near ln(B) and 0 is perfect."""
    text = f"epoch {stats.epoch}/{epochs}: train loss {stats.train_loss:.4f}"
    if stats.validation_loss is not None:
        text += f", validation loss {stats.validation_loss:.4f}"
    text += f" (InfoNCE{' + distillation' if agreement is not None else ''}, {batch_size} pairs a batch)"
    if agreement is not None:
        text += f", agreement with the teacher {agreement:.3f}"
    return text + f", {stats.items / max(stats.seconds, 1e-9):,.0f} pairs/s"
