"""The docs are true: every CLI command is documented, and every Python example in them runs.

- Every command of the typer app (sub-apps `train` and `eval` included) appears
  as `embedsearch <command>` in some docs/*.md file, and its help has an example.
- Every ```python block of README.md and docs/*.md runs, each in its own empty
  directory, with $EMBEDSEARCH_HOME holding a small real `glove-6b-50d` index
  (the 20,000 most frequent GloVe words). A block that cannot run there is not
  marked python.
- The README stays a guide: it opens with the two set-up commands and is short.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import typer

from embedsearch.cli import app

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def command_paths(typer_app: typer.Typer, prefix: str = "") -> list[tuple[str, object]]:
    """("train attention", callback) for every command, sub-apps included."""
    paths = []
    for command in typer_app.registered_commands:
        name = command.name or command.callback.__name__.replace("_", "-")
        paths.append((f"{prefix}{name}", command.callback))
    for group in typer_app.registered_groups:
        paths += command_paths(group.typer_instance, f"{prefix}{group.name} ")
    return paths


def python_blocks() -> list[tuple[str, str]]:
    """(file:line, code) of every ```python block in README.md and docs/*.md."""
    blocks = []
    for path in [README, *DOCS]:
        text = path.read_text()
        for match in PYTHON_BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return blocks


def test_readme_opens_with_the_two_commands_and_stays_a_guide():
    first_block = README.read_text().split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
    assert len(README.read_text().encode()) < 10_000


def test_every_command_is_in_the_docs_with_an_example_in_its_help():
    paths = command_paths(app)
    assert {"build", "neighbors", "train attention", "eval retrieval"} <= {p for p, _ in paths}
    docs = "\n".join(path.read_text() for path in DOCS)
    for path, callback in paths:
        assert re.search(rf"embedsearch {re.escape(path)}(?![\w-])", docs), \
            f"`embedsearch {path}` is in no docs/*.md file"
        assert callback.__doc__ and "embedsearch " in callback.__doc__, f"{path}: help has no example"


def test_the_docs_have_python_examples():
    assert len(python_blocks()) >= 4


@pytest.fixture(scope="module")
def docs_home(word_index_path, tmp_path_factory):
    """An indexes home whose `glove-6b-50d` is the real 20,000-word GloVe slice index."""
    home = tmp_path_factory.mktemp("docs-home")
    shutil.copytree(word_index_path, home / "glove-6b-50d")
    return home


@pytest.mark.parametrize("where, code", python_blocks(), ids=[where for where, _ in python_blocks()])
def test_python_example_runs(where, code, docs_home, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(docs_home))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})
