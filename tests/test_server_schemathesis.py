"""Schemathesis with every check against a real uvicorn server: the OpenAPI schema describes
what the server accepts and answers (no 5xx, responses match their declared models, 405s carry
Allow, no schema-valid request is refused as malformed).

A schema cannot say which words an index knows, how long a vector must be or how many hits a
batch may ask for in all, so a schema-valid request may get a 400 with a domain error (unknown
term, wrong dimension, limit exceeded); 422, 5xx and anything undocumented fail the run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from embedsearch.encoders import load_encoder
from embedsearch.indexing.build import build_corpus_index
from test_server_robust import TEXTS, serving

EXAMPLES = 10  # per operation and phase: about 30 s here
ACCEPTED = '[checks.positive_data_acceptance]\nexpected-statuses = ["2xx", "400", "401", "403", "404", "409"]\n'


SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(SCHEMATHESIS is None, reason="schemathesis is in the test extra")
def test_schemathesis_finds_nothing(tmp_path, vectors_file, word_index_path):
    corpus = tmp_path / "notes.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"doc{i}", "text": t, "year": 2020 + i}) + "\n"
                              for i, t in enumerate(TEXTS)))
    build_corpus_index(corpus, load_encoder(str(vectors_file)), tmp_path / "notes",
                       key_field="id", show_progress=False)
    config = tmp_path / "schemathesis.toml"
    config.write_text(ACCEPTED)
    with serving([str(word_index_path), str(tmp_path / "notes")], allow_sql=True) as (url, _):
        run = subprocess.run(
            [SCHEMATHESIS, "--config-file", str(config), "run", f"{url}/openapi.json",
             "--checks", "all", "-n", str(EXAMPLES), "--seed", "7", "--no-shrink",
             "--report-dir", str(tmp_path / "reports")],
            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:]
