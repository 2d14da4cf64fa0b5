"""Every CLI command is documented in the README and has help with an example."""

from __future__ import annotations

from pathlib import Path

import typer

from embedsearch.cli import app

README = (Path(__file__).parent.parent / "README.md").read_text()


def command_paths(typer_app: typer.Typer, prefix: str = "") -> list[tuple[str, object]]:
    paths = []
    for command in typer_app.registered_commands:
        name = command.name or command.callback.__name__.replace("_", "-")
        paths.append((f"{prefix}{name}", command.callback))
    for group in typer_app.registered_groups:
        paths += command_paths(group.typer_instance, f"{prefix}{group.name} ")
    return paths


def test_readme_opens_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_every_command_is_in_the_readme_with_an_example_in_its_help():
    paths = command_paths(app)
    assert len(paths) >= 8
    for path, callback in paths:
        assert f"embedsearch {path}" in README, f"`embedsearch {path}` is not in README.md"
        assert callback.__doc__ and "embedsearch " in callback.__doc__, f"{path}: help has no example"
