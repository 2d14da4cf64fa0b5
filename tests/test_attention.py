"""The attention encoder and its trainer, on a tiny slice of a real news corpus, in seconds."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from embedsearch.indexing.build import build_corpus_index
from embedsearch.cli import app
from embedsearch.encoders import load_encoder
from embedsearch.encoders.attention import AttentionConfig, AttentionEncoder, word_vector_embeddings
from embedsearch.encoders.attention_model import AttentionModel
from embedsearch.encoders.base import fingerprint_bytes
from embedsearch.encoders.lexical import (DEFAULT_LEXICAL_SHARE, HASH_PRIME, LEXICAL_SHARES,
                                          best_share, choose_share, fit_lexical_channel)
from embedsearch.encoders.tokenizers import Gpt2Tokenizer, gpt2_encoding
from helpers import (TINY_ATTENTION as TINY, lee_lines_file, tiny_attention_encoder,
                     training_of)
from embedsearch.errors import EncoderError, InputError
from embedsearch.index import Index
from embedsearch.train.attention import AttentionTraining, train_attention
from embedsearch.train.contrastive import padded_batch
from embedsearch.train.loop import CHECKPOINT_FILE
from embedsearch.train.pairs import PairSampler, read_labelled_pairs



@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return lee_lines_file(tmp_path_factory.mktemp("corpus"), 60)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("encoders") / "tiny"
    result = train_attention(corpus, out, training_of(AttentionTraining, epochs=3, **TINY), show_progress=False)
    return out, result


def test_vectors_are_unit_float32_and_padding_does_not_change_them():
    encoder = tiny_attention_encoder()
    short = "the cat"
    batch = [short, "a dog ran in the park today and the cat sat on the mat", "the mat"]
    alone = encoder.encode([short])
    together = encoder.encode(batch)
    assert together.dtype == np.float32 and together.shape == (3, 16 + 32)
    assert np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)
    assert np.allclose(alone[0], together[0], atol=1e-5)
    # And straight through the model: the same text padded to 12 tokens.
    ids = encoder.token_ids([short])[0]
    padded = padded_batch([ids, ids + [5] * 10], 48)
    with torch.inference_mode():
        vectors = encoder.model(padded)
    assert torch.allclose(vectors[0], encoder.model(padded[:1, :len(ids)])[0], atol=1e-5)


def test_untrained_model_is_the_mean_of_token_and_position_embeddings():
    tokenizer = Gpt2Tokenizer.fit(["the cat sat"])
    config = AttentionConfig(vocab_size=tokenizer.vocab_size, dim=8, heads=2, layers=2, ff_dim=16,
                             lexical_dim=0)
    model = AttentionModel(config).eval()
    ids = torch.tensor([tokenizer.encode("the cat sat")])
    embedded = model.token_embedding(ids) + model.position_embedding(torch.arange(ids.shape[1]))
    expected = torch.nn.functional.normalize(embedded.mean(dim=1), dim=-1)
    assert torch.allclose(model(ids), expected, atol=1e-6)


def test_the_lexical_channel_is_a_weighted_bag_of_tokens_mixed_by_its_share():
    encoder = tiny_attention_encoder()
    model, tokenizer = encoder.model.eval(), encoder.tokenizer
    ids = lambda text: torch.tensor([tokenizer.encode(text)])
    with torch.inference_mode():
        lexical = lambda text: model.lexical(ids(text))[0]
        # Order does not matter, unseen tokens add nothing, shared tokens raise the cosine.
        assert torch.allclose(lexical("the cat sat on the mat"), lexical("the mat sat on the cat"))
        assert torch.allclose(lexical("the cat sat"), lexical("the cat sat zzqx"))
        assert float(lexical("the cat") @ lexical("the cat sat")) > float(lexical("the cat") @ lexical("a dog"))
        # A weight of zero removes a token.
        model.lexical_weights[ids(" sat")[0]] = 0.0
        assert torch.allclose(lexical("the cat"), lexical("the cat sat"))
        # The text's cosine is the share-weighted mix of the two channels' cosines.
        a, b = ids("the cat sat on the mat"), ids("a dog ran in the park")
        mixed = float(model(a)[0] @ model(b)[0])
        semantic = float(model.semantic(a)[0] @ model.semantic(b)[0])
        bag = float(model.lexical(a)[0] @ model.lexical(b)[0])
    assert mixed == pytest.approx(0.5 * semantic + 0.5 * bag, abs=1e-6)


def test_the_share_chosen_is_the_best_scoring_mix_and_the_default_without_scores():
    semantic = np.eye(3)  # the transformer sees three unrelated texts
    lexical = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 0, 1.0]])  # the bag: texts 0 and 1 alike
    # Scored by how much closer text 0 is to text 1 than to text 2: the mixed cosine is
    # (1 - s) * 0 + s * 1 against 0, so the score is the share itself and 1 wins.
    rows = choose_share(semantic, lexical, lambda mixed: {"score": float(mixed[0] @ mixed[1] -
                                                                         mixed[0] @ mixed[2])})
    assert [row["share"] for row in rows] == list(LEXICAL_SHARES)
    assert [row["score"] for row in rows] == pytest.approx(list(LEXICAL_SHARES))
    assert best_share(rows) == 1.0
    assert best_share([]) == DEFAULT_LEXICAL_SHARE


def test_a_directory_without_a_lexical_channel_still_loads(tmp_path):
    encoder = tiny_attention_encoder(lexical_dim=0)
    encoder.save(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    for key in ("lexical_dim", "lexical_share"):  # written before the channel existed
        del config[key]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    loaded = load_encoder(tmp_path / "old")
    assert loaded.dim == 16
    assert np.array_equal(loaded.encode(["the cat sat"]), encoder.encode(["the cat sat"]))


def test_the_lexical_channel_hashes_the_gpt2_ids_of_unseen_tokens(tmp_path):
    encoder = tiny_attention_encoder(lexical_dim=4096)
    model, tokenizer = encoder.model, encoder.tokenizer
    unseen = [i for i in gpt2_encoding().encode_ordinary(" Zanzibar Kilimanjaro")]
    assert all(i not in tokenizer.gpt2_ids for i in unseen)
    marked = encoder.tokenize(["the Zanzibar Kilimanjaro"])[0]
    assert marked[1:] == [-1 - i for i in unseen] and marked[0] == tokenizer.encode("the")[0]
    # The bag of one unseen token, worked out from the hash's definition in plain integers.
    a_bucket, b_bucket, a_sign, b_sign = model.unseen_coefficients.tolist()
    expected, reserved = np.zeros(4096), 1024  # a quarter of the dimensions are reserved
    for a, b, c, d in zip(a_bucket, b_bucket, a_sign, b_sign):
        bucket = reserved + (a * unseen[0] + b) % HASH_PRIME % (4096 - reserved)
        expected[bucket] += 1 if (c * unseen[0] + d) % HASH_PRIME % 2 else -1
    with torch.inference_mode():
        bag = model.lexical(torch.tensor([[-1 - unseen[0]]]))[0].numpy()
    assert np.allclose(bag, expected / np.linalg.norm(expected), atol=1e-6)
    # Two texts that share only unseen words now agree in the lexical channel, and the
    # encoder keeps its vectors through save/load (the hashes are derived, not saved).
    texts = ["the Zanzibar Kilimanjaro", "a Zanzibar Kilimanjaro", "a Patagonia Tierra"]
    a, b, c = vectors = encoder.encode(texts)
    assert float(a @ b) > float(a @ c) + 0.2
    encoder.save(tmp_path / "new")
    loaded = load_encoder(tmp_path / "new")
    assert np.array_equal(loaded.encode(texts), vectors)
    assert loaded.fingerprint() == encoder.fingerprint()


def save_as_before(encoder, directory, *keys) -> dict:
    """Save `encoder` as a version before `keys` existed wrote it (its config lacks them); the config."""
    encoder.save(directory)
    config = json.loads((directory / "config.json").read_text())
    for key in keys:
        del config[key]
    (directory / "config.json").write_text(json.dumps(config))
    return config


def test_a_directory_saved_before_unseen_tokens_were_hashed_keeps_its_vectors(tmp_path):
    encoder = tiny_attention_encoder()
    encoder.config.lexical_unseen = False  # what an old directory did
    texts = ["the cat sat in Zanzibar", "a dog in the park"]
    before, fingerprint = encoder.encode(texts), encoder.fingerprint()
    config = save_as_before(encoder, tmp_path / "old", "lexical_unseen")
    loaded = load_encoder(tmp_path / "old")
    assert loaded.config.lexical_unseen is False
    assert np.array_equal(loaded.encode(texts), before)
    # Its fingerprint is the one computed before the key existed: indexes built with it match.
    state = loaded.model.state_dict()
    old_fingerprint = fingerprint_bytes(
        json.dumps(config, sort_keys=True).encode(), loaded.tokenizer.to_json().encode(),
        *[part for name in sorted(state) for part in (name.encode(), state[name].numpy().tobytes())])
    assert loaded.fingerprint() == old_fingerprint == fingerprint
    encoder.config.lexical_unseen = True
    assert not np.allclose(encoder.encode(texts)[0], before[0])  # the new default counts Zanzibar


def folded_lexical_model(documents, **config):
    """(untrained model whose lexical channel is folded on `documents`, tokenizer, id of each token string)."""
    tokenizer = Gpt2Tokenizer.fit(documents)
    model = AttentionModel(AttentionConfig(dim=8, heads=2, layers=1, ff_dim=8,
                                           vocab_size=tokenizer.vocab_size,
                                           **{"lexical_dim": 64, **config}))
    fit_lexical_channel(model, tokenizer, documents)
    return model, tokenizer, {tokenizer.token_string(i): i for i in range(4, tokenizer.vocab_size)}


def test_the_lexical_channel_weighs_a_token_counted_n_times_by_1_plus_ln_n():
    model, _, ids = folded_lexical_model(["Police came", "the police left", "the dog"])
    police, Police, dog = ids[" police"], ids["Police"], ids[" dog"]

    def entries(token):  # the token's fixed +-1 entries, worked out from the buffers
        row = np.zeros(64)
        for bucket, sign in zip(model.lexical_buckets[token].tolist(),
                                model.lexical_signs[token].tolist()):
            row[bucket] += sign
        return row

    weight = lambda token: float(model.lexical_weights[token])
    # " police" three times (once as "Police": one class) and " dog" once: 1 + ln 3 and 1.
    expected = (1 + np.log(3)) * weight(police) * entries(police) + weight(dog) * entries(dog)
    with torch.inference_mode():
        bag = model.lexical(torch.tensor([[police, Police, police, dog, 0, 0]]))[0].numpy()
    assert np.allclose(bag, expected / np.linalg.norm(expected), atol=1e-6)
    # Counted per text: the same tokens beside another text in the batch give the same row.
    with torch.inference_mode():
        batch = model.lexical(torch.tensor([[dog, dog, 0, 0, 0, 0],
                                            [police, Police, police, dog, 0, 0]]))
    assert torch.allclose(batch[1], torch.from_numpy(bag), atol=1e-6)


def test_with_every_class_in_a_reserved_dimension_the_bag_is_exact_sublinear_tf_idf():
    documents = ["Police came to the river", "the police left the river bank",
                 "the dog ran", "a dog and a police dog"]
    model, tokenizer, _ = folded_lexical_model(documents, lexical_dim=128, lexical_reserved=0.5)
    # Fewer classes than the 64 reserved dimensions: each class holds one alone.
    classes = {}
    for token_id in range(4, tokenizer.vocab_size):
        classes.setdefault(tokenizer.token_string(token_id).strip().lower(), token_id)
    slots = {int(model.lexical_buckets[i, 0]) for i in classes.values()}
    assert len(slots) == len(classes) and max(slots) < 64
    assert all(len(set(model.lexical_buckets[i].tolist())) == 1 for i in classes.values())

    def tf_idf(text):  # by hand: (1 + ln n) * (ln((1 + N) / (1 + df)) + 1) per class
        words = [tokenizer.token_string(i).strip().lower() for i in tokenizer.encode(text)]
        row = np.zeros(len(classes))
        for column, word in enumerate(classes):
            n = words.count(word)
            df = sum(word in [tokenizer.token_string(i).strip().lower()
                              for i in tokenizer.encode(document)] for document in documents)
            row[column] = (1 + np.log(n)) * (np.log(5 / (1 + df)) + 1) if n else 0.0
        return row / np.linalg.norm(row)

    texts = ["the police dog ran to the police", "a dog by the river bank", "Police came"]
    ids = padded_batch(tokenizer.encode_batch(texts), 64)
    with torch.inference_mode():
        bags = model.lexical(ids).double().numpy()
    expected = np.array([tf_idf(text) for text in texts])
    assert np.allclose(bags @ bags.T, expected @ expected.T, atol=1e-6)


def test_a_directory_saved_before_sublinear_counts_and_reserved_dimensions_keeps_its_vectors(tmp_path):
    old = tiny_attention_encoder(lexical_tf="raw", lexical_reserved=0.0)  # what it did
    texts = ["the cat sat on the mat with the other cat", "a dog in the park"]
    before, fingerprint = old.encode(texts), old.fingerprint()
    save_as_before(old, tmp_path / "old", "lexical_tf", "lexical_reserved")
    loaded = load_encoder(tmp_path / "old")
    assert loaded.config.lexical_tf == "raw" and loaded.config.lexical_reserved == 0.0
    assert "lexical_classes" not in loaded.model.state_dict()
    assert np.array_equal(loaded.encode(texts), before)
    assert loaded.fingerprint() == fingerprint  # indexes built with it still match
    assert not np.allclose(tiny_attention_encoder().encode(texts)[0], before[0])


def test_texts_with_no_known_token_cannot_be_encoded():
    encoder = tiny_attention_encoder()
    vectors, encodable = encoder.encode_batch(["the cat", "日本語"])
    assert encodable.tolist() == [True, False] and not vectors[1].any()
    with pytest.raises(EncoderError):
        encoder.encode(["日本語"])


def test_the_transformer_reads_max_length_tokens_and_the_lexical_channel_all():
    encoder = tiny_attention_encoder()
    short, long = "the cat " * 64, "the cat " * 64 + "a dog ran in the park " * 40
    ids = encoder.token_ids([long])[0]
    assert len(ids) > encoder.config.max_length
    lists = [torch.tensor(i) for i in encoder.token_ids([short, long])]
    assert len(lists[0]) >= encoder.config.max_length
    full = torch.nn.utils.rnn.pad_sequence(lists, batch_first=True)  # PAD_ID is 0
    batch = full[:, :encoder.config.max_length]
    with torch.no_grad():
        semantic = encoder.model.semantic(full)
        assert torch.allclose(semantic[0], semantic[1], atol=1e-6)  # same first 128 tokens
        assert torch.allclose(semantic, encoder.model.semantic(batch), atol=1e-6)
        lexical = encoder.model.lexical(full)
    assert float(lexical[0] @ lexical[1]) < 0.99  # the dog and the park count


def test_word_vectors_initialise_matching_tokens_keeping_cosines():
    tokenizer = Gpt2Tokenizer.fit(["King queen king apple zzqx"])
    words = ["king", "queen", "apple"]
    vectors = np.array([[1, 0, 0], [0.6, 0.8, 0], [0, 0, 1]], dtype=np.float32)
    rows, matched = word_vector_embeddings(tokenizer, words, vectors, dim=8, seed=0)
    assert rows.shape == (tokenizer.vocab_size, 8)
    ids = {tokenizer.token_string(i): i for i in range(4, tokenizer.vocab_size)}
    king, queen, apple = rows[ids["King"]], rows[ids[" queen"]], rows[ids[" apple"]]
    assert torch.allclose(rows[ids[" king"]], king)  # " king" and "King" share the word
    assert float(king @ queen) == pytest.approx(0.6, abs=1e-5)
    assert float(king @ apple) == pytest.approx(0.0, abs=1e-5)
    assert matched == 4
    with pytest.raises(EncoderError):
        word_vector_embeddings(tokenizer, words, vectors, dim=2)


def test_training_lowers_the_loss_and_writes_a_loadable_encoder(trained, corpus):
    out, result = trained
    history = result.history
    assert len(history) == 3
    assert history[-1].train_loss < history[0].train_loss
    assert all(0 < h.validation_loss < 10 for h in history)
    assert result.tokens_per_second > 0
    for name in ("config.json", "weights.pt", "tokenizer.json", CHECKPOINT_FILE, "training.json"):
        assert (out / name).is_file()
    loaded = load_encoder(out)
    assert isinstance(loaded, AttentionEncoder) and loaded.dim == 32 + 64
    # The lexical share is the best of the eleven tried on the validation documents.
    choice = result.lexical_choice
    assert [row["share"] for row in choice] == pytest.approx([i / 10 for i in range(11)])
    assert loaded.config.lexical_share == max(choice, key=lambda row: row["score"])["share"]
    assert choice[-1]["recall@10"] > 0
    texts = [line for line in corpus.read_text().splitlines()[:6]]
    assert np.array_equal(loaded.encode(texts), result.encoder.encode(texts))
    assert loaded.fingerprint() == result.encoder.fingerprint()


def test_the_encoder_directory_holds_the_last_epoch(trained):
    out, _ = trained
    last_epoch = torch.load(out / CHECKPOINT_FILE, weights_only=True)["model"]
    saved = torch.load(out / "weights.pt", weights_only=True)
    assert saved.keys() == last_epoch.keys()
    assert all(torch.equal(saved[name], last_epoch[name]) for name in saved)


def test_training_is_reproducible_and_resumes_to_the_same_weights(corpus, tmp_path, trained):
    out, result = trained
    partial = tmp_path / "partial"
    train_attention(corpus, partial, training_of(AttentionTraining, epochs=2, **TINY), show_progress=False)
    resumed = train_attention(corpus, partial, training_of(AttentionTraining, epochs=3, **TINY), resume=True,
                              show_progress=False)
    # Two epochs, then one more after a resume, equal three epochs in one run.
    assert [h.train_loss for h in resumed.history] == pytest.approx(
        [h.train_loss for h in result.history], abs=1e-4)
    text = ["Bushfires threaten homes in New South Wales."]
    assert np.allclose(resumed.encoder.encode(text), result.encoder.encode(text), atol=1e-5)
    with pytest.raises(InputError, match="trained with"):
        train_attention(corpus, partial, training_of(AttentionTraining, epochs=3, **{**TINY, "dim": 16}),
                        resume=True, show_progress=False)


def test_an_index_built_with_the_encoder_answers_from_its_vectors(trained, corpus, tmp_path):
    out, _ = trained
    encoder = load_encoder(out)
    build_corpus_index(corpus, encoder, tmp_path / "lee", chunk_words=0, show_progress=False)
    texts = [line.strip() for line in corpus.read_text().splitlines()]  # as the corpus reader does
    vectors = encoder.encode(texts)
    from embedsearch import query

    with Index.open(tmp_path / "lee") as index:
        assert np.allclose(index.vectors_of(range(len(texts))), vectors, atol=1e-6)
        hits = query.neighbors(index, "Fires burn near Sydney homes", k=5, mode="vector")
        expected = np.argsort(-(vectors @ encoder.encode(["Fires burn near Sydney homes"])[0]))[:5]
        assert [hit.id for hit in hits] == expected.tolist()


def test_a_damaged_encoder_directory_gives_a_clear_error(trained, tmp_path):
    out, _ = trained
    broken = tmp_path / "broken"
    broken.mkdir()
    config = json.loads((out / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "layers": "two"}))
    (broken / "weights.pt").write_bytes((out / "weights.pt").read_bytes()[:100])
    (broken / "tokenizer.json").write_text((out / "tokenizer.json").read_text())
    with pytest.raises(EncoderError, match="layers"):
        load_encoder(broken)
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(EncoderError, match="damaged"):
        load_encoder(broken)


def test_pairs_come_from_distinct_documents_and_labelled_files(tmp_path):
    # Every word names its document ("d3" in "d3w2c1"), so any crop still shows it.
    documents = [[" ".join(f"d{d}w{w}c{c}" for w in range(6)) for c in range(3)] for d in range(8)]
    sampler = PairSampler(documents, seed=0)
    anchors, positives = sampler.batch(8)
    document_of = lambda text: text.split("w")[0]
    assert len({document_of(a) for a in anchors}) == 8  # one pair per document
    assert [document_of(a) for a in anchors] == [document_of(p) for p in positives]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("a question\tits answer\n\nanother\tpair\n")
    assert read_labelled_pairs(tsv) == [("a question", "its answer"), ("another", "pair")]
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text('{"anchor": "x", "positive": "y"}\n{"text1": "z"}\n')
    with pytest.raises(InputError, match="pairs.jsonl:2"):
        read_labelled_pairs(jsonl)
    mixed = PairSampler(documents, labelled=[("q", "a")], seed=0).batch(4)
    assert mixed[0].count("q") == 2


def test_cli_trains_and_reports(corpus, tmp_path):
    out = tmp_path / "cli-encoder"
    options = ["--dim", "16", "--heads", "2", "--layers", "1", "--ff-dim", "32", "--epochs", "1",
               "--steps-per-epoch", "3", "--batch-size", "8", "--init-vectors", "", "--max-length", "32",
               "--lexical-dim", "32", "--lexical-share", "0.25"]
    done = CliRunner().invoke(app, ["train", "attention", "--corpus", str(corpus), "--out", str(out),
                                    *options])
    assert done.exit_code == 0, done.output
    assert "epoch 1/1: train loss" in done.output and "validation loss" in done.output
    assert "trained attention encoder" in done.output and "lexical 32 (share 0.25)" in done.output
    loaded = load_encoder(out)
    assert loaded.dim == 16 + 32 and loaded.config.lexical_share == 0.25
    bad = CliRunner().invoke(app, ["train", "attention", "--corpus", str(corpus), "--out",
                                   str(tmp_path / "bad"), "--dim", "10", "--heads", "4"])
    assert bad.exit_code != 0 and "multiple of heads" in str(bad.exception)


def test_the_trained_lexical_channel_folds_case_and_weighs_by_idf():
    model, tokenizer, ids = folded_lexical_model(["Police came", "the police left", "the dog"])
    police, Police = ids[" police"], ids["Police"]
    assert torch.equal(model.lexical_buckets[police], model.lexical_buckets[Police])
    assert torch.equal(model.lexical_signs[police], model.lexical_signs[Police])
    assert not torch.equal(model.lexical_buckets[police], model.lexical_buckets[ids[" dog"]])
    # scikit-learn's smoothed IDF, ln((1 + n) / (1 + df)) + 1, over that of a token in no document.
    idf = lambda df: (np.log(4 / (1 + df)) + 1) / (np.log(4) + 1)
    for token, df in [(" police", 2), ("Police", 2), ("the", 2), (" dog", 1), (" came", 1)]:
        assert float(model.lexical_weights[ids[token]]) == pytest.approx(idf(df), rel=1e-6)
    # So the bag of "police" is the bag of "Police", whatever the case.
    with torch.inference_mode():
        bags = model.lexical(torch.tensor([[police], [Police]]))
    assert torch.allclose(bags[0], bags[1])
