"""A sentence-transformers BERT with mean pooling (all-MiniLM-L6-v2) run by ONNX Runtime.

The model is exported once with `torch.onnx` (the transformer only: token
ids, attention mask and token types in, last hidden state out), its matrix
products are quantised, in a copy, to int8 with one scale per output channel
by ONNX Runtime's dynamic quantisation (activations are quantised on the
fly), and both are cached in a folder named after the model's fingerprint,
written to a temporary folder and renamed into place. Later loads need only
`onnxruntime` and `tokenizers`. The float32 model gives sentence-transformers'
vectors to float rounding; int8 per channel moves a few of MiniLM's below
cosine 0.99 of them (per tensor, most).

Pooling is done here as sentence-transformers does it: the mean of the last
hidden states over the real (unpadded) tokens, then L2 normalisation.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import EncoderError
from ..vectors import normalize_rows

ONNX_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17


class OnnxBert:
    """Texts -> unit mean-pooled vectors, through an ONNX model and the model's tokenizer."""

    def __init__(self, model_path: Path, tokenizer_path: Path, *, max_length: int, dim: int):
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        options.intra_op_num_threads = max(1, cores or 1)
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(model_path), options,
                                                    providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        self.max_length = max_length
        self.dim = dim

    @classmethod
    def cached(cls, directory: Path, cache: Path, export: Callable[[], object], *,
               int8: bool) -> "OnnxBert":
        """The runtime of the model in `directory` (float32, or `int8`), exporting `export()`
        (a SentenceTransformer) into `cache` first if no complete copy is there."""
        max_length, dim = _check_bert_with_mean_pooling(directory)
        if not (cache / INT8_FILE).is_file():
            export_onnx(export(), cache)
        return cls(cache / (INT8_FILE if int8 else ONNX_FILE), directory / "tokenizer.json",
                   max_length=max_length, dim=dim)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        vectors = np.zeros((len(encodings), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)  # (B, T), 0 is [PAD]
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, :len(encodings[i].ids)] = encodings[i].ids
                mask[row, :len(encodings[i].ids)] = 1
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]  # (B, T, C)
            weights = mask[..., None].astype(np.float32)
            vectors[batch] = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return normalize_rows(vectors)


def _check_bert_with_mean_pooling(directory: Path) -> tuple[int, int]:
    """(max_seq_length, dimension) if the model is a transformer, mean pooling, maybe Normalize."""
    try:
        modules = json.loads((directory / "modules.json").read_text())
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        pooling_config = json.loads((directory / pooling["path"] / "config.json").read_text())
        settings = json.loads((directory / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration) as error:
        raise EncoderError(f"{directory}: cannot read its sentence-transformers modules ({error})") from None
    kinds = {m["type"].rsplit(".", 1)[-1] for m in modules}
    modes = {key for key, value in pooling_config.items() if key.startswith("pooling_mode") and value}
    if not kinds <= {"Transformer", "Pooling", "Normalize"} or modes != {"pooling_mode_mean_tokens"}:
        raise EncoderError(f"{directory}: the ONNX runtime runs a transformer with mean pooling only "
                           f"(this model has {sorted(kinds)}, {sorted(modes)}); use the torch runtime")
    return int(settings["max_seq_length"]), int(pooling_config["word_embedding_dimension"])


def _last_hidden_state(transformer):
    """The transformer as a module of three tensors, so torch.onnx passes them by name."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):  # (B, T) each
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                    token_type_ids=token_type_ids).last_hidden_state  # (B, T, C)

    return LastHiddenState().eval()


def export_onnx(model, cache: Path) -> None:
    """Export `model` (a SentenceTransformer) to ONNX, quantise a copy, and move both into `cache`."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
    try:
        example = model[0].tokenizer(["an example"], return_tensors="pt")
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_last_hidden_state(model[0].auto_model),
                              tuple(example[name] for name in INPUTS), str(staging / ONNX_FILE),
                              input_names=list(INPUTS), output_names=["last_hidden_state"],
                              dynamic_axes={name: {0: "batch", 1: "tokens"}
                                            for name in (*INPUTS, "last_hidden_state")},
                              opset_version=OPSET, dynamo=False)
        quantize_dynamic(str(staging / ONNX_FILE), str(staging / INT8_FILE), per_channel=True,
                         weight_type=QuantType.QUInt8, op_types_to_quantize=["MatMul"])
        os.replace(staging, cache)
    except OSError:
        if not (cache / INT8_FILE).is_file():  # another process may have won the race
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
