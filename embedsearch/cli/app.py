"""The typer application object, shared by the command modules: -h, --version, completion."""

import typer

CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="embedsearch",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"embedsearch {version('embedsearch')}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_show_version,
                                          is_eager=True, help="Print the version and exit.")):
    """Turn word vectors or a corpus into a searchable vector index; ask it for neighbours,
    analogies and similarities.

    Shell completion: embedsearch --install-completion
    """
