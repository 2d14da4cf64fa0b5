"""The analogy benchmark (Google's questions-words.txt), by gensim's exact rules.

`evaluate_analogies` gives the same sections, correct and incorrect lists,
skipped count and accuracy as gensim's `KeyedVectors.evaluate_word_analogies`
on the same vectors, but answers every question in a few batched searches
(`analogy.rank_answers`) instead of one full pass per question. The rules:

- only the first `restrict_vocab` rows count, as candidates and as vocabulary;
  words are folded to upper case (the earliest row wins a folded word and
  gives its vector);
- a line ": name" starts a section; other lines must hold exactly four words,
  otherwise they are skipped and not counted;
- a question with a word outside the vocabulary is skipped and counted in
  `skipped`;
- the answer is the first of the top 5 (the three input rows excluded) whose
  folded form is not one of the three inputs. As in gensim, when none of the
  five qualifies the last one examined stands as the prediction, so such a
  question is wrong unless the expected word is itself one of the inputs.

    report = evaluate_analogies(Index.open("glove"))  # GloVe 6B 50d
    round(report.accuracy, 4), report.skipped
    # (0.4637, 58)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..query.ranking import ANALOGY_METHODS, ANALOGY_SIGNS, rank_answers, score_targets
from ..errors import InputError
from ..index import Index
from ..progress import progress_bar
from .vocabulary import gensim_test_file, item_keys, read_lines, vocabulary_ids

GOOGLE_ANALOGIES = "questions-words.txt"
TOP_N = 5  # gensim looks at the 5 best answers (after dropping the input rows)

Question = tuple[str, str, str, str]


@dataclass
class SectionResult:
    """One section of the benchmark: its questions answered right and wrong (folded words)."""

    name: str
    correct: list[Question] = field(default_factory=list)
    incorrect: list[Question] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.correct) + len(self.incorrect)

    @property
    def accuracy(self) -> float:
        """Share answered right; 0.0 for a section with no answered question (as gensim)."""
        return len(self.correct) / self.total if self.total else 0.0


@dataclass
class Mistake:
    """A wrong answer: what was predicted, and how far the expected word scored below it."""

    question: Question
    predicted: str | None
    margin: float  # score of the prediction minus score of the expected word


@dataclass
class AnalogyReport:
    """Everything `embedsearch eval analogy` shows."""

    path: str
    method: str
    restrict_vocab: int | None
    sections: list[SectionResult]
    skipped: int  # questions with a word outside the vocabulary
    questions: int  # well-formed question lines, skipped ones included
    mistakes: list[Mistake]  # every wrong answer, worst (largest margin) first
    seconds: float

    @property
    def correct(self) -> int:
        return sum(len(s.correct) for s in self.sections)

    @property
    def answered(self) -> int:
        return sum(s.total for s in self.sections)

    @property
    def accuracy(self) -> float:
        return self.correct / self.answered if self.answered else 0.0

    def to_dict(self, worst: int = 10) -> dict:
        return {
            "questions_file": self.path,
            "method": self.method,
            "restrict_vocab": self.restrict_vocab,
            "overall": {"accuracy": self.accuracy, "correct": self.correct, "total": self.answered},
            "sections": [{"name": s.name, "accuracy": s.accuracy, "correct": len(s.correct),
                          "total": s.total} for s in self.sections],
            "skipped": self.skipped,
            "questions": self.questions,
            "worst": [{"question": list(m.question[:3]), "expected": m.question[3],
                       "predicted": m.predicted, "margin": m.margin} for m in self.mistakes[:worst]],
            "seconds": self.seconds,
        }


def evaluate_analogies(index: Index, questions_path: str | Path | None = None,
                       restrict_vocab: int | None = 300000, case_insensitive: bool = True,
                       method: str = "add", *, show_progress: bool = False) -> AnalogyReport:
    """Accuracy on an analogy file (default: Google's questions-words.txt from gensim)."""
    if method not in ANALOGY_METHODS:
        raise InputError(f"unknown analogy method {method!r}: use add (3CosAdd) or mul (3CosMul)")
    started = time.perf_counter()
    path = Path(questions_path) if questions_path else gensim_test_file(GOOGLE_ANALOGIES)
    fold = str.upper if case_insensitive else str
    sections, lines = _read_questions(path, fold)
    vocabulary = vocabulary_ids(index, restrict_vocab, case_insensitive,
                                 {word for _, question in lines for word in question})
    asked = [(section, question) for section, question in lines
             if all(word in vocabulary for word in question)]
    word_ids = np.array([[vocabulary[w] for w in q] for _, q in asked], dtype=np.int64).reshape(-1, 4)
    terms = index.vectors_of(word_ids[:, :3].ravel()).reshape(len(word_ids), 3, index.dim)
    exclude = [set(row[:3].tolist()) for row in word_ids]
    with progress_bar(total=len(asked), unit="questions", desc="analogies",
                      disable=not show_progress) as bar:
        answer_ids, answer_scores = rank_answers(
            index, terms, ANALOGY_SIGNS, exclude, k=TOP_N, method=method,
            restrict_vocab=restrict_vocab, progress=bar)
    folded_keys = {i: fold(key) for i, key in item_keys(index, answer_ids[answer_ids >= 0]).items()}
    expected_scores = score_targets(terms, ANALOGY_SIGNS, method, index.vectors_of(word_ids[:, 3]))
    mistakes = []
    for row, (section, question) in enumerate(asked):
        predicted, predicted_score = _prediction(question, answer_ids[row], answer_scores[row], folded_keys)
        if predicted == question[3]:
            section.correct.append(question)
        else:
            section.incorrect.append(question)
            margin = predicted_score - float(expected_scores[row])
            mistakes.append(Mistake(question, predicted, margin))
    mistakes.sort(key=lambda m: -m.margin)
    return AnalogyReport(str(path), method, restrict_vocab, sections, len(lines) - len(asked),
                         len(lines), mistakes, time.perf_counter() - started)


def _read_questions(path: Path, fold):
    """Sections, and every well-formed question (section, folded words) in file order."""
    sections: list[SectionResult] = []
    questions: list[tuple[SectionResult, Question]] = []
    for line_no, line in read_lines(path):
        if line.startswith(": "):
            sections.append(SectionResult(line.lstrip(": ").strip()))
            continue
        if not sections:
            raise InputError(f"{path}, line {line_no + 1}: a question before the first "
                             "': section' header")
        words = line.split()
        if len(words) == 4:
            questions.append((sections[-1], tuple(fold(word) for word in words)))
    if not questions:
        raise InputError(f"{path} holds no analogy questions (lines of four words under ': section' headers)")
    return sections, questions


def _prediction(question: Question, ids: np.ndarray, scores: np.ndarray, folded_keys: dict[int, str]):
    """gensim's choice among the top answers: the first whose folded word is not an input.

    (gensim also checks that the folded word is in its vocabulary, which every
    candidate row's is: candidates are the vocabulary's own rows.)
    """
    predicted, predicted_score = None, float("nan")
    for item_id, score in zip(ids, scores):
        if item_id < 0:
            break
        predicted = folded_keys[int(item_id)]
        predicted_score = float(score)
        if predicted not in question[:3]:
            break
    return predicted, predicted_score
