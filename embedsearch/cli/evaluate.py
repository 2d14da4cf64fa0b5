"""`embedsearch eval ...`: benchmarks of encoders and indexes."""

import typer

eval_app = typer.Typer(help="Evaluate word vectors and indexes on standard benchmarks.",
                       no_args_is_help=True)
