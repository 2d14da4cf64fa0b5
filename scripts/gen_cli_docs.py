"""Rewrite docs/cli.md from the CLI's own help (tests/test_docs.py checks it is current).

    python scripts/gen_cli_docs.py
"""

from pathlib import Path

from embedsearch.cli import app
from embedsearch.cli.reference import cli_reference

TARGET = Path(__file__).resolve().parent.parent / "docs" / "cli.md"

if __name__ == "__main__":
    TARGET.write_text(cli_reference(app))
    print(f"wrote {TARGET}")
