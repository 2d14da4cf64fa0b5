"""Graded similarity: nested grades and the correlation of pair cosines with them."""

from __future__ import annotations

import doctest
from itertools import combinations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from embedsearch.errors import InputError
from embedsearch.evaluate import graded
from embedsearch.evaluate.graded import graded_correlation, nested_grades
from embedsearch.vectors import normalize_rows


def test_doctests():
    assert doctest.testmod(graded).failed == 0


def test_grades_and_correlations_match_a_loop_over_pairs():
    rng = np.random.default_rng(0)
    outer = [str(i % 3) for i in range(12)]
    inner = [f"{o}-{i % 2}" for i, o in enumerate(outer)]
    vectors = normalize_rows(rng.normal(size=(12, 5)).astype(np.float32))
    expected_grades = [int(outer[i] == outer[j]) + int(inner[i] == inner[j])
                       for i, j in combinations(range(12), 2)]
    grades = nested_grades(outer, inner)
    assert grades.tolist() == expected_grades
    cosines = [float(vectors[i] @ vectors[j]) for i, j in combinations(range(12), 2)]
    result = graded_correlation(vectors, grades)
    assert result["pairs"] == 66
    assert result["pearson"] == pytest.approx(np.corrcoef(cosines, expected_grades)[0, 1], abs=1e-6)
    sparse = graded_correlation(csr_matrix(vectors), grades)
    assert sparse["spearman"] == pytest.approx(result["spearman"], abs=1e-6)


def test_inner_labels_must_nest_and_grades_must_vary():
    with pytest.raises(InputError, match="two outer labels"):
        nested_grades(["a", "b"], ["x", "x"])
    with pytest.raises(InputError, match="same grade"):
        graded_correlation(np.eye(3), np.zeros(3))
