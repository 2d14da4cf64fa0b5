"""The neural encoders' tokenizers: compact GPT-2 BPE and characters."""

from __future__ import annotations

import json

import pytest

from embedsearch.train.token_position import document_stream
from embedsearch.encoders.tokenizers import (END_ID, FIRST_TOKEN_ID, PAD_ID, START_ID, UNKNOWN_ID,
                                             CharTokenizer, Gpt2Tokenizer, gpt2_encoding,
                                             tokenizer_from_json)
from embedsearch.errors import EncoderError

TEXTS = ["The king and the queen.", "The king rode home.", "A queen, a king!"]


def test_gpt2_encoding_is_the_real_one_and_offline():
    # GPT-2's ids for "hello world", as published with the model.
    assert gpt2_encoding().encode_ordinary("hello world") == [31373, 995]
    assert gpt2_encoding().decode([464, 5822]) == "The king"


def test_gpt2_compact_ids_map_back_to_gpt2_ids_most_frequent_first():
    tokenizer = Gpt2Tokenizer.fit(TEXTS)
    reference = [gpt2_encoding().encode_ordinary(t) for t in TEXTS]
    distinct = {i for ids in reference for i in ids}
    assert tokenizer.vocab_size == FIRST_TOKEN_ID + len(distinct)
    for text, gpt2_ids in zip(TEXTS, reference):
        compact = tokenizer.encode(text)
        assert all(i >= FIRST_TOKEN_ID for i in compact)
        assert [tokenizer.gpt2_ids[i - FIRST_TOKEN_ID] for i in compact] == gpt2_ids
        assert tokenizer.decode(compact) == text
    assert tokenizer.encode_batch(TEXTS) == [tokenizer.encode(t) for t in TEXTS]
    # Compact ids are ordered by frequency, most frequent first.
    assert tokenizer.counts == sorted(tokenizer.counts, reverse=True)
    assert tokenizer.token_string(tokenizer.encode(" king")[0]) == " king"
    assert " king" in tokenizer.token_strings()


def test_gpt2_unseen_tokens_are_unknown_and_min_count_drops_rare_ones():
    tokenizer = Gpt2Tokenizer.fit(TEXTS)
    ids = tokenizer.encode(" king zebra")
    assert ids[0] >= FIRST_TOKEN_ID and UNKNOWN_ID in ids[1:]
    assert "\ufffd" in tokenizer.decode(ids)
    frequent = Gpt2Tokenizer.fit(TEXTS, min_count=3)
    assert {frequent.token_string(i) for i in range(FIRST_TOKEN_ID, frequent.vocab_size)} == {" king"}


def test_documents_have_markers_and_decode_drops_them():
    tokenizer = CharTokenizer.fit(["anna", "bob"])
    assert (PAD_ID, UNKNOWN_ID, START_ID, END_ID, FIRST_TOKEN_ID) == (0, 1, 2, 3, 4)
    # a, b, n occur twice (ties in code-point order), o once.
    assert tokenizer.chars == ["a", "b", "n", "o"]
    assert tokenizer.encode("nab?") == [6, 4, 5, UNKNOWN_ID]
    assert tokenizer.encode("bo") == [5, 7]  # no markers: the trainer adds them around each document
    assert document_stream(tokenizer, ["bo", "a"]) == [START_ID, 5, 7, END_ID, START_ID, 4, END_ID]
    assert tokenizer.decode([PAD_ID, START_ID, 5, 7, END_ID]) == "bo\n"


@pytest.mark.parametrize("tokenizer", [Gpt2Tokenizer.fit(TEXTS), CharTokenizer.fit(TEXTS)],
                         ids=["gpt2", "char"])
def test_json_round_trip(tokenizer):
    loaded = tokenizer_from_json(tokenizer.to_json())
    assert type(loaded) is type(tokenizer)
    assert loaded.vocab_size == tokenizer.vocab_size
    assert loaded.encode_batch(TEXTS + ["zebra ü"]) == tokenizer.encode_batch(TEXTS + ["zebra ü"])
    assert loaded.to_json() == tokenizer.to_json()


@pytest.mark.parametrize("text, fragment", [
    ("not json", "not valid JSON"),
    (json.dumps({"kind": "sentencepiece", "format_version": 1}), "unknown tokenizer kind"),
    (json.dumps({"kind": "char", "format_version": 99, "chars": []}), "upgrade"),
    (json.dumps({"kind": "char", "format_version": 1}), "incomplete"),
    (json.dumps({"kind": "char", "format_version": 1, "chars": ["ab"]}), "single characters"),
    (json.dumps({"kind": "gpt2", "format_version": 1, "gpt2_ids": [1, 1]}), "duplicate"),
    (json.dumps({"kind": "gpt2", "format_version": 1, "gpt2_ids": [60000]}), "outside"),
])
def test_damaged_or_foreign_json_is_a_clear_error(text, fragment):
    with pytest.raises(EncoderError, match=fragment):
        tokenizer_from_json(text)
