"""Fusing two ranked lists (vector and keyword hits) into one: reciprocal rank, or a score mix.

Cosine similarities and BM25 scores are on different scales, so they are
never added raw. Reciprocal-rank fusion (RRF) scores an item by its ranks
only: alpha / (rrf_k + vector rank) + (1 - alpha) / (rrf_k + keyword rank),
times two (so alpha = 0.5 is plain RRF); the score mix rescales each list's
scores to [0, 1] (min-max over the list) and adds them with weights alpha
(vector) and 1 - alpha (keyword). An item missing from a list gets nothing
from it. `alpha` = 1 is the vector ranking alone, 0 the keyword one.

>>> fuse({1: 0.9, 2: 0.5}, {2: 7.0, 3: 3.0}, Fusion("mix", alpha=0.5))
{1: 0.5, 2: 0.5, 3: 0.0}
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from ..errors import InputError

FUSION_METHODS = ("rrf", "mix")


# The vector list's weight by encoder name, chosen on held-out known-item tasks
# (docs/search.md): a strong encoder earns more weight than a weak one.
ENCODER_ALPHA = {"all-minilm-l6-v2": 0.7, "minilm-static": 0.4}
DEFAULT_ALPHA = 0.3  # an encoder not measured


def encoder_alpha(encoder_name: str) -> float:
    """The default vector weight for an index built with `encoder_name`."""
    return ENCODER_ALPHA.get(encoder_name, DEFAULT_ALPHA)


@dataclass(frozen=True)
class Fusion:
    """How hybrid search fuses its lists: `method` rrf or mix, `alpha` the vector list's weight
    (None: the index's encoder's default, `encoder_alpha`).

    Defaults chosen on held-out known-item tasks (docs/search.md).
    """

    method: str = "mix"
    alpha: float | None = None
    rrf_k: int = 60

    def __post_init__(self):
        if self.method not in FUSION_METHODS:
            raise InputError(f"unknown fusion {self.method!r}: use rrf (reciprocal rank) or mix "
                             "(normalised-score mix)")
        if self.alpha is not None and not (isinstance(self.alpha, (int, float))
                                           and math.isfinite(self.alpha) and 0 <= self.alpha <= 1):
            raise InputError(f"the fusion weight alpha must be between 0 and 1, not {self.alpha}")
        if not isinstance(self.rrf_k, int) or not 1 <= self.rrf_k <= 10_000:
            raise InputError(f"rrf_k must be an integer from 1 to 10000, not {self.rrf_k}")

    def as_dict(self) -> dict:
        return asdict(self)

    def for_encoder(self, encoder_name: str) -> "Fusion":
        """This fusion with its weight set: the encoder's default where none was given."""
        if self.alpha is not None:
            return self
        return replace(self, alpha=encoder_alpha(encoder_name))


def normalized(scores: dict[int, float]) -> dict[int, float]:
    """Scores rescaled to [0, 1] by min-max over the list; all equal -> all 1."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return {item: 1.0 for item in scores}
    return {item: (score - low) / (high - low) for item, score in scores.items()}


def fuse(vector: dict[int, float], keyword: dict[int, float], fusion: Fusion) -> dict[int, float]:
    """id -> fused score, best first (ties: vector order, then keyword order).

    `vector` and `keyword` map id -> score in rank order (best first), as a
    search returns them.
    """
    if fusion.alpha is None:
        raise ValueError("set the fusion's alpha first (Fusion.for_encoder)")
    if fusion.method == "rrf":
        parts = [{item: 2 * weight / (fusion.rrf_k + rank)
                  for rank, item in enumerate(scores, start=1)}
                 for scores, weight in ((vector, fusion.alpha), (keyword, 1 - fusion.alpha))]
    else:
        parts = [{item: weight * score for item, score in normalized(scores).items()}
                 for scores, weight in ((vector, fusion.alpha), (keyword, 1 - fusion.alpha))]
    fused: dict[int, float] = {}
    for part in parts:
        for item, score in part.items():
            fused[item] = fused.get(item, 0.0) + score
    return dict(sorted(fused.items(), key=lambda pair: -pair[1]))
