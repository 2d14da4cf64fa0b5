"""`embedsearch eval retrieval`: does a chunk find the other chunks of its document?"""

from __future__ import annotations

import typer

from .evaluate import eval_app
from .output import print_json, print_table


@eval_app.command("retrieval")
def retrieval(
    index: str = typer.Option(..., "--index", "-i", help="Index of held-out chunks (name or path)."),
    k: int = typer.Option(10, "-k", min=1, help="Recall is measured in the top k."),
    doc_field: str = typer.Option("doc", help="Metadata field naming each item's document, or 'source'."),
    depth: int = typer.Option(100, min=1, help="MRR looks this deep for the first relevant item."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
):
    """Recall@k and MRR: each chunk queries the index; relevant = other chunks of its document.

    Build the index from held-out chunks that carry their document in a
    metadata field (scripts/eval_retrieval_table.py writes such a split).

    Example:
      embedsearch build --corpus heldout.jsonl --key-field key --encoder encoders/attention --out heldout
      embedsearch eval retrieval --index heldout
    """
    from ..evaluate.retrieval import evaluate_index

    result = evaluate_index(index, k=k, doc_field=doc_field, depth=depth, show_progress=not as_json)
    if as_json:
        print_json({"index": index, **result.as_dict()})
        return
    print_table(["index", "queries", f"recall@{k}", "MRR"],
                [[index, result.queries, result.recall_at_k, result.mrr]])
