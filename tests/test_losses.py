"""InfoNCE with in-batch negatives, checked against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from embedsearch.train.losses import info_nce


def test_info_nce_matches_a_hand_computed_value():
    anchors = torch.tensor([[1.0, 0.0], [0.0, 2.0]])    # scale is irrelevant: cosines are used
    positives = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    # Cosines: row 0 -> (0.7071, 0), row 1 -> (0.7071, 1); temperature 0.5 doubles them.
    c = 1 / math.sqrt(2)
    row0 = -math.log(math.exp(2 * c) / (math.exp(2 * c) + math.exp(0)))
    row1 = -math.log(math.exp(2) / (math.exp(2 * c) + math.exp(2)))
    expected = (row0 + row1) / 2
    assert info_nce(anchors, positives, temperature=0.5).item() == pytest.approx(expected, abs=1e-6)


def test_symmetric_averages_both_directions():
    generator = torch.Generator().manual_seed(0)
    anchors = torch.randn(5, 8, generator=generator)
    positives = torch.randn(5, 8, generator=generator)
    one_way = info_nce(anchors, positives, 0.1)
    other_way = info_nce(positives, anchors, 0.1)
    both = info_nce(anchors, positives, 0.1, symmetric=True)
    assert both.item() == pytest.approx((one_way.item() + other_way.item()) / 2, abs=1e-6)


def test_matches_a_numpy_cross_entropy_over_the_batch():
    generator = torch.Generator().manual_seed(1)
    anchors = torch.randn(6, 4, generator=generator)
    positives = torch.randn(6, 4, generator=generator)
    a = anchors.numpy() / np.linalg.norm(anchors.numpy(), axis=1, keepdims=True)
    p = positives.numpy() / np.linalg.norm(positives.numpy(), axis=1, keepdims=True)
    logits = a @ p.T / 0.05
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.mean(np.diag(log_softmax))
    assert info_nce(anchors, positives, 0.05).item() == pytest.approx(expected, rel=1e-5)


def test_aligned_pairs_score_lower_than_shuffled_ones():
    generator = torch.Generator().manual_seed(2)
    anchors = torch.randn(8, 16, generator=generator)
    positives = anchors + 0.1 * torch.randn(8, 16, generator=generator)
    assert info_nce(anchors, positives, 0.1) < info_nce(anchors, positives.roll(1, 0), 0.1)
    assert info_nce(anchors, positives, 0.1) < math.log(8)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError):
        info_nce(torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError):
        info_nce(torch.ones(2, 2), torch.ones(2, 2), temperature=0)
