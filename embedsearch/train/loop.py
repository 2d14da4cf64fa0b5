"""The training loop pieces both neural trainers share.

- `seed_everything`: Python, NumPy and torch seeds, and torch on every core.
- `split_train_validation`: a seeded split that keeps each part in corpus order.
- `save_checkpoint` / `resume_checkpoint`: one file written atomically after
  every epoch (model and optimizer state dicts, epoch, config, history), read
  with `weights_only=True`. Ctrl-C during an epoch leaves the previous epoch's
  checkpoint intact, and `--resume` continues from it.
- `run_epochs`: the loop itself, with a progress bar showing the running loss,
  the validation loss after each epoch, and a checkpoint after each epoch.

The encoder directory format and the batched, length-sorted encoding live in
`encoders/neural.py`, since encoders load without the training code.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np

from ..encoders.neural import use_all_cores
from ..errors import InputError
from ..files import write_atomically
from ..progress import progress_bar

CHECKPOINT_FILE = "checkpoint.pt"
T = TypeVar("T")


def seed_everything(seed: int) -> None:
    """Seed every generator training draws from, and use all cores."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    use_all_cores()


def split_train_validation(items: Sequence[T], validation_fraction: float,
                           seed: int) -> tuple[list[T], list[T]]:
    """(train, validation): a seeded random `validation_fraction` of items held out.

    Both parts keep corpus order. At least one item is held out when the
    fraction is positive and there are two or more items.
    """
    if not 0 <= validation_fraction < 1:
        raise InputError(f"validation fraction must be in [0, 1), got {validation_fraction}")
    count = len(items)
    held = round(count * validation_fraction)
    if validation_fraction > 0 and count >= 2:
        held = min(max(held, 1), count - 1)
    chosen = set(np.random.default_rng(seed).permutation(count)[:held].tolist())
    train = [item for i, item in enumerate(items) if i not in chosen]
    validation = [item for i, item in enumerate(items) if i in chosen]
    return train, validation


@dataclass
class EpochStats:
    """One epoch's figures; losses are mean cross-entropy (nats) per predicted item."""

    epoch: int
    train_loss: float
    validation_loss: float | None
    items: int
    seconds: float

    @property
    def train_perplexity(self) -> float:
        return math.exp(min(self.train_loss, 50.0))

    @property
    def validation_perplexity(self) -> float | None:
        return None if self.validation_loss is None else math.exp(min(self.validation_loss, 50.0))

    def line(self, epochs: int) -> str:
        text = (f"epoch {self.epoch}/{epochs}: train loss {self.train_loss:.4f} "
                f"(perplexity {self.train_perplexity:.1f})")
        if self.validation_loss is not None:
            text += (f", validation loss {self.validation_loss:.4f} "
                     f"(perplexity {self.validation_perplexity:.1f})")
        return text + f", {self.items / max(self.seconds, 1e-9):,.0f} items/s"


def save_checkpoint(path: str | Path, *, model, optimizer, epoch: int, config: dict,
                    history: list[EpochStats], extra: dict | None = None) -> None:
    """Write the training state after `epoch` (1-based) atomically: temp file, then rename."""
    import torch

    path = Path(path)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
             "config": config, "history": [asdict(h) for h in history], "extra": extra or {}}
    write_atomically(path, lambda temporary: torch.save(state, temporary))


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by `save_checkpoint`; a clear error if there is none or it is damaged."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"cannot resume: no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise InputError(f"cannot resume: {path} is damaged ({str(error).splitlines()[0]})") from None
    if not isinstance(state, dict) or not {"model", "optimizer", "epoch", "config"} <= set(state):
        raise InputError(f"cannot resume: {path} is not an embedsearch checkpoint")
    return state


def resume_checkpoint(path: str | Path, *, model, optimizer, config: dict,
                      may_differ: Iterable[str] = ("epochs",)) -> tuple[int, list[EpochStats], dict]:
    """Restore model and optimizer from a checkpoint: (epochs done, history, extra).

    The checkpoint's config must equal `config` except for `may_differ`
    (continuing to more epochs is fine; a different model size is not).
    """
    state = load_checkpoint(path)
    ignored = set(may_differ)
    saved = {k: v for k, v in state["config"].items() if k not in ignored}
    wanted = {k: v for k, v in config.items() if k not in ignored}
    if saved != wanted:
        changed = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
        details = ", ".join(f"{k}={saved.get(k)!r} (now {wanted.get(k)!r})" for k in changed)
        raise InputError(f"cannot resume from {path}: it was trained with {details}; "
                         "use the same options or drop `resume=True`")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    history = [EpochStats(**h) for h in state.get("history", [])]
    return int(state["epoch"]), history, state.get("extra", {})


def flat_settings(settings: dict, prefix: str = "") -> dict:
    """A nested dict of settings as one level: {"model": {"dim": 8}} -> {"model.dim": 8}.

    So that a refused `--resume` names the one setting that changed.
    """
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(flat_settings(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def start_run(out: Path, training, tokenizer, *, model, optimizer, resume: bool,
              report: Callable[[str], None] | None = None) -> tuple[Path, dict, int, list[EpochStats]]:
    """(checkpoint path, run config, epochs already done, history) of a run writing to `out`.

    The run config is the training options plus the tokenizer's identity: `--resume`
    refuses a checkpoint made with other options or another tokenizer.
    """
    out.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out / CHECKPOINT_FILE
    run_config = {**flat_settings(asdict(training)), "vocab_size": tokenizer.vocab_size,
                  "tokenizer_digest": hashlib.sha256(tokenizer.to_json().encode()).hexdigest()}
    start_epoch, history = 0, []
    if resume:
        start_epoch, history, _ = resume_checkpoint(checkpoint_path, model=model,
                                                    optimizer=optimizer, config=run_config)
        if report:
            report(f"resumed from {checkpoint_path} after epoch {start_epoch}")
    return checkpoint_path, run_config, start_epoch, history


def mean_loss(model, batches: Iterable, loss_of: Callable) -> float | None:
    """Mean loss over batches, weighted by the items each holds; None if there are none."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            loss, items = loss_of(model, batch)
            total += float(loss) * items
            count += items
    return total / count if count else None


def run_epochs(model, optimizer, *, epochs: int, start_epoch: int,
               train_batches: Callable[[int], Sequence], loss_of: Callable,
               validation_batches: Callable[[], Iterable] | None,
               checkpoint: Callable[[int, list[EpochStats]], None] | None = None,
               history: list[EpochStats] | None = None, report: Callable[[str], None] | None = None,
               show_progress: bool = True, clip_norm: float | None = 1.0) -> list[EpochStats]:
    """Train from epoch `start_epoch + 1` to `epochs`; returns the full history.

    `train_batches(epoch)` gives that epoch's batches (shuffled by the caller,
    seeded by the epoch so a resumed run sees the same order); `loss_of(model,
    batch) -> (mean loss tensor, items in batch)`. After each epoch the
    validation loss is measured, `report` gets a line, and `checkpoint(epoch,
    history)` saves the state.
    """
    import torch

    history = list(history or [])
    for epoch in range(start_epoch + 1, epochs + 1):
        model.train()
        batches = train_batches(epoch)
        started = time.perf_counter()
        total, items = 0.0, 0
        with progress_bar(total=len(batches), unit="batch", desc=f"epoch {epoch}/{epochs}",
                          disable=not show_progress) as bar:
            for batch in batches:
                loss, batch_items = loss_of(model, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if clip_norm:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
                optimizer.step()
                total += loss.item() * batch_items
                items += batch_items
                bar.set_postfix(loss=f"{total / max(items, 1):.4f}", refresh=False)
                bar.update(1)
        validation = mean_loss(model, validation_batches(), loss_of) if validation_batches else None
        stats = EpochStats(epoch, total / max(items, 1), validation, items,
                           time.perf_counter() - started)
        history.append(stats)
        if checkpoint is not None:
            checkpoint(epoch, history)
        if report is not None:
            report(stats.line(epochs))
    model.eval()
    return history
