"""Helpers shared by the tests: rankings against a reference allowing for ties, training settings."""

from __future__ import annotations

import typing
from dataclasses import fields

import numpy as np

TOLERANCE = 1e-5


def assert_same_ranking(hits, expected, tolerance: float = TOLERANCE):
    """Hits against reference (key, score) pairs: same scores in order, same keys up to ties.

    Where two neighbouring reference scores tie (within `tolerance`) either key may come first.
    """
    assert len(hits) == len(expected)
    np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], atol=tolerance)
    for position, (hit, (key, _)) in enumerate(zip(hits, expected)):
        if hit.key != key:
            tied = [k for k, s in expected if abs(s - hit.score) < tolerance]
            assert hit.key in tied, f"rank {position}: {hit.key} vs {key}"


def assert_exact_top_k(ids, scores, reference, tolerance: float = TOLERANCE):
    """(ids, scores) of a top-k search against a full reference score matrix (queries, rows).

    Each row's scores are the reference's k best, in order, and each returned
    id really has the score it was returned with: any order among tied rows passes,
    a wrong id does not.
    """
    ids, scores, reference = np.asarray(ids), np.asarray(scores), np.asarray(reference)
    k = ids.shape[1]
    best = -np.sort(-reference, axis=1)[:, :k]
    np.testing.assert_allclose(scores, best, atol=tolerance)
    np.testing.assert_allclose(np.take_along_axis(reference, ids, axis=1), scores, atol=tolerance)
    assert all(len(set(row)) == k for row in ids.tolist()), "an id was returned twice"


def training_of(training_class, **settings):
    """A training dataclass from flat settings: those that name a field of its `model` go there.

    `training_of(TokenPositionTraining, dim=16, epochs=3)` is
    `TokenPositionTraining(model=TokenPositionConfig(dim=16), epochs=3)`.
    """
    model_class = typing.get_type_hints(training_class)["model"]
    model_fields = {item.name for item in fields(model_class)}
    model = model_class(**{k: v for k, v in settings.items() if k in model_fields})
    return training_class(model=model, **{k: v for k, v in settings.items() if k not in model_fields})
