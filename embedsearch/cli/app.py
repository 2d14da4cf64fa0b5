"""The typer application object, shared by the command modules."""

import typer

app = typer.Typer(
    name="embedsearch",
    help="Turn word vectors or a corpus into a searchable vector index; ask it for "
         "neighbours, analogies and similarities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
