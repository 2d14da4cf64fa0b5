"""The docs are true: every CLI command is documented, and every Python example in them runs.

- docs/cli.md is what `python scripts/gen_cli_docs.py` generates from the CLI
  itself, so no option can be missing from it or described twice.
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
from typer.models import ArgumentInfo

from embedsearch.cli import app
from embedsearch.cli.reference import (REGENERATE, cli_reference, command_paths, option_names,
                                       parameters)

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


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


def test_the_cli_reference_is_generated_from_the_cli():
    committed = (ROOT / "docs" / "cli.md").read_text()
    assert committed == cli_reference(app), \
        f"docs/cli.md differs from the CLI's help: regenerate it with `{REGENERATE}`"


def test_the_cli_reference_lists_every_option_of_every_command():
    reference = (ROOT / "docs" / "cli.md").read_text()
    sections = dict(re.findall(r"^## `(embedsearch [^`]+)`\n(.*?)(?=^## |\Z)", reference,
                               re.MULTILINE | re.DOTALL))
    assert {"embedsearch build", "embedsearch most-similar", "embedsearch rank", "embedsearch export",
            "embedsearch serve", "embedsearch train attention"} <= set(sections)
    for path, callback, _ in command_paths(app):
        for name, _, declaration in parameters(callback):
            names = [name.upper()] if isinstance(declaration, ArgumentInfo) \
                else option_names(name, declaration)
            assert f"| `{names[0]}`" in sections[path], f"{path}: {names[0]} is not in docs/cli.md"
    assert "needs embedsearch[distributed]" in sections["embedsearch build"]  # not eaten as markup


def test_every_command_is_in_the_docs_with_an_example_in_its_help():
    paths = list(command_paths(app))
    assert {"embedsearch build", "embedsearch neighbors", "embedsearch train attention",
            "embedsearch eval retrieval"} <= {path for path, _, _ in paths}
    docs = "\n".join(path.read_text() for path in DOCS)
    for path, _, docstring in paths:
        assert re.search(rf"{re.escape(path)}(?![\w-])", docs), f"`{path}` is in no docs/*.md file"
        assert "embedsearch " in docstring, f"{path}: help has no example"


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
