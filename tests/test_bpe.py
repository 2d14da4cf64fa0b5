"""The trained byte-level BPE: hand-worked merges, tiktoken against the trainer, round trips."""

from __future__ import annotations

from pathlib import Path

import gensim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedsearch.encoders.bpe import TrainerEncoder, bpe_encoding, train_byte_bpe
from embedsearch.encoders.tokenizers import (FIRST_TOKEN_ID, BpeTokenizer, fit_tokenizer,
                                             tokenizer_from_json)
from embedsearch.errors import EncoderError

LEE = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"
# Arbitrary Unicode, less lone surrogates (no UTF-8 text can hold one).
UNICODE = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)


@pytest.fixture(scope="module")
def lee_bpe() -> BpeTokenizer:
    return fit_tokenizer("bpe", LEE.read_text().splitlines()[:150], vocab_size=2000)


def test_low_lower_lowest_merges_worked_by_hand():
    # Pre-tokens "low", " lower", " lowest". Pair counts: l-o 3, o-w 3, " "-l 2, w-e 2, ...
    # 1. l+o (3; ties with o+w, l comes first)   2. lo+w (3)
    # 3. " "+low (2; ties with low+e, the byte " " came before the merge "low")
    # 4. " low"+e (2)   5. every pair left occurs once: s+t (s is a byte, " lowe" a merge)
    merges = train_byte_bpe(["low lower lowest"], 256 + 5)
    assert merges == [(b"l", b"o"), (b"lo", b"w"), (b" ", b"low"), (b" low", b"e"), (b"s", b"t")]
    tokenizer = BpeTokenizer(merges)
    tokens = [tokenizer.token_string(i) for i in tokenizer.encode("low lower lowest")]
    assert tokens == ["low", " lowe", "r", " lowe", "st"]
    assert tokenizer.vocab_size == FIRST_TOKEN_ID + 256 + 5


def test_min_count_stops_rare_merges():
    merges = train_byte_bpe(["low lower lowest"], 256 + 5, min_count=3)
    assert merges == [(b"l", b"o"), (b"lo", b"w")]


@settings(max_examples=200, deadline=None)
@given(text=UNICODE)
def test_round_trip_and_tiktoken_equals_the_trainer(lee_bpe, text):
    ids = lee_bpe.encode(text)
    assert lee_bpe.decode(ids) == text
    assert min(ids, default=FIRST_TOKEN_ID) >= FIRST_TOKEN_ID  # bytes cover everything: no <unk>
    ranks = [i - FIRST_TOKEN_ID for i in ids]
    assert ranks == TrainerEncoder(lee_bpe.merges).encode_ordinary_batch([text])[0]


def test_tiktoken_equals_the_trainer_on_the_corpus(lee_bpe):
    texts = LEE.read_text().splitlines()
    assert lee_bpe.use_tiktoken
    assert (bpe_encoding(lee_bpe.merges).encode_ordinary_batch(texts)
            == TrainerEncoder(lee_bpe.merges).encode_ordinary_batch(texts))
    assert lee_bpe.vocab_size == 2000 and len(lee_bpe.counts) == 2000 - FIRST_TOKEN_ID
    assert sum(lee_bpe.counts) > 0 and lee_bpe.token_string(lee_bpe.encode(" the")[0]) == " the"


def test_save_and_load_give_the_same_tokenizer(lee_bpe, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(lee_bpe.to_json(), encoding="utf-8")
    loaded = tokenizer_from_json(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, BpeTokenizer)
    assert loaded.merges == lee_bpe.merges and loaded.counts == lee_bpe.counts
    text = "Ünïcödé, emoji 🙂 and 数字 42."
    assert loaded.encode(text) == lee_bpe.encode(text)
    assert loaded.to_json() == lee_bpe.to_json()


def test_bad_sizes_and_damaged_merges_are_errors():
    with pytest.raises(EncoderError, match="at least 256"):
        train_byte_bpe(["abc"], 100)
    with pytest.raises(EncoderError, match="stands for no byte"):
        tokenizer_from_json('{"kind": "bpe", "format_version": 1, "merges": [["a", " "]], '
                            '"counts": null, "tiktoken": true}')


def test_token_position_trains_with_its_own_bpe(tmp_path):
    from typer.testing import CliRunner

    from embedsearch.cli import app
    from embedsearch.encoders import load_encoder
    from test_token_position import tiny_corpus

    tiny_corpus(tmp_path / "corpus.txt", lines_per_topic=10)
    result = CliRunner().invoke(app, [
        "train", "token-position", "--corpus", str(tmp_path / "corpus.txt"), "--out",
        str(tmp_path / "tp"), "--tokenizer", "bpe", "--vocab-size", "300", "--context", "8",
        "--dim", "16", "--hidden", "32", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    encoder = load_encoder(tmp_path / "tp")
    assert isinstance(encoder.tokenizer, BpeTokenizer) and encoder.tokenizer.vocab_size <= 300
    assert encoder.config.vocab_size == encoder.tokenizer.vocab_size
    assert encoder.encode(["any text at all, even ✓"]).shape == (1, 16)
