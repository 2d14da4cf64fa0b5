"""`embedsearch eval ...`: benchmarks of encoders and indexes."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .options import (AlphaOption, Fusion, FusionOption, IndexOption, JsonOption, Method,
                      MethodOption, Mode, text_search_settings)
from .printing import print_json, print_table

eval_app = typer.Typer(help="Evaluate word vectors and indexes on standard benchmarks.",
                       no_args_is_help=True)

PlotOption = typer.Option(None, "--plot", help="Also write a PNG chart to this file (needs matplotlib).")
RestrictOption = typer.Option(300000, "--restrict", min=1,
                              help="Only the first N rows (most frequent words) count, as gensim.")


def _check_plotting(plot: Optional[Path]) -> None:
    if plot:
        from ..evaluate.plots import require_matplotlib

        require_matplotlib()


@eval_app.command("analogy")
def analogy(
    index: str = IndexOption,
    questions: Optional[Path] = typer.Option(
        None, "--questions", help="Analogy file ': section' + 'a b c d' lines "
                                  "(default: Google's questions-words.txt from gensim)."),
    method: Method = MethodOption,
    restrict: int = RestrictOption,
    worst: int = typer.Option(10, "--worst", min=0, help="Show this many worst-answered questions."),
    as_json: bool = JsonOption,
    plot: Optional[Path] = PlotOption,
):
    """Analogy accuracy per section and overall, as gensim's evaluate_word_analogies.

    Example (build glove-6b-50d first: embedsearch build --vectors glove-6b-50d --out glove-6b-50d):
      embedsearch eval analogy --index glove-6b-50d --plot analogy.png
    """
    from ..evaluate import evaluate_analogies
    from ..index import Index

    _check_plotting(plot)
    with Index.open(index) as opened:
        report = evaluate_analogies(opened, questions, restrict_vocab=restrict, method=method.value,
                                    show_progress=not as_json)
    if plot:
        from ..evaluate.plots import plot_analogy_sections

        plot_analogy_sections(report, plot)
    if as_json:
        print_json(report.to_dict(worst=worst))
        return
    rows = [[s.name, len(s.correct), s.total, 100 * s.accuracy] for s in report.sections]
    rows.append(["overall", report.correct, report.answered, 100 * report.accuracy])
    print_table(["section", "correct", "total", "accuracy %"], rows,
                title=f"{report.path} ({report.method}, first {report.restrict_vocab:,} rows)")
    typer.echo(f"skipped {report.skipped:,} of {report.questions:,} questions "
               f"(a word outside the vocabulary); {report.seconds:.1f} s")
    if worst and report.mistakes:
        typer.echo("")
        print_table(["question", "expected", "predicted", "margin"],
                    [[" : ".join(m.question[:3]), m.question[3], m.predicted or "-", m.margin]
                     for m in report.mistakes[:worst]],
                    title="worst answered (margin = predicted score - expected score)")
    if plot:
        typer.echo(f"wrote {plot}")


@eval_app.command("wordsim")
def wordsim(
    index: str = IndexOption,
    pairs: Optional[Path] = typer.Option(
        None, "--pairs", help="Tab-separated 'word word score' file (default: WordSim-353 "
                              "and SimLex-999 from gensim)."),
    restrict: int = RestrictOption,
    as_json: bool = JsonOption,
):
    """Pearson and Spearman correlation with human similarity scores, as gensim's evaluate_word_pairs.

    Example (build glove-6b-50d first: embedsearch build --vectors glove-6b-50d --out glove-6b-50d):
      embedsearch eval wordsim --index glove-6b-50d
    """
    from ..evaluate import evaluate_word_pairs
    from ..evaluate.word_pairs import default_pair_files
    from ..index import Index

    files = {pairs.stem: pairs} if pairs else default_pair_files()
    with Index.open(index) as opened:
        reports = {name: evaluate_word_pairs(opened, path, restrict_vocab=restrict)
                   for name, path in files.items()}
    if as_json:
        print_json({name: report.to_dict() for name, report in reports.items()})
        return
    print_table(["data set", "pairs", "pearson", "spearman", "oov %"],
                [[name, r.pairs, r.pearson, r.spearman, r.oov_ratio] for name, r in reports.items()])


@eval_app.command("ann")
def ann(
    index: str = IndexOption,
    k: int = typer.Option(10, "-k", min=1, help="Neighbours per query (recall@k)."),
    sample: int = typer.Option(1000, "--sample", min=1, help="Number of the index's items used as queries."),
    seed: int = typer.Option(0, "--seed", help="Seed of the query sample."),
    sweep: bool = typer.Option(False, "--sweep", help="Also measure other efSearch / nprobe settings."),
    as_json: bool = JsonOption,
    plot: Optional[Path] = PlotOption,
):
    """Recall@k of the index's search against exact search, and queries per second.

    Example:
      embedsearch build --vectors glove-6b-50d --out glove-hnsw --index-type hnsw
      embedsearch eval ann --index glove-hnsw --sweep --plot ann.png
    """
    from ..evaluate import evaluate_ann
    from ..index import Index

    _check_plotting(plot)
    with Index.open(index) as opened:
        report = evaluate_ann(opened, k=k, sample=sample, seed=seed, sweep=sweep or bool(plot))
    if plot:
        from ..evaluate.plots import plot_ann

        plot_ann(report, plot)
    if as_json:
        print_json(report.to_dict())
        return
    rows = [[f"{report.index} ({report.index_type})", report.recall, round(report.qps)]]
    rows += [[", ".join(f"{n}={v}" for n, v in p.setting.items()), p.recall, round(p.qps)]
             for p in report.sweep]
    rows.append(["exact search (brute force)", 1.0, round(report.exact_qps)])
    print_table(["search", f"recall@{report.k}", "queries/s"], rows,
                title=f"{report.sample} queries drawn from the index")
    if plot:
        typer.echo(f"wrote {plot}")


@eval_app.command("retrieval")
def retrieval(
    index: str = typer.Option(..., "--index", "-i", help="Index of held-out chunks (name or path)."),
    k: int = typer.Option(10, "-k", min=1, help="Recall is measured in the top k."),
    doc_field: str = typer.Option("doc", help="Metadata field naming each item's document, or 'source'."),
    depth: int = typer.Option(100, min=1, help="MRR looks this deep for the first relevant item."),
    queries: Optional[Path] = typer.Option(
        None, "--queries", exists=True, dir_okay=False,
        help='JSON Lines of {"query": text, "relevant": \\[document keys]}: score each search mode '
             "on these instead (MRR@k, recall@k, nDCG@k)."),
    modes: Optional[List[Mode]] = typer.Option(
        None, "--mode",
        help="With --queries: a mode to score (repeatable; default vector, keyword and hybrid)."),
    fusion: Optional[Fusion] = FusionOption,
    alpha: Optional[float] = AlphaOption,
    as_json: bool = JsonOption,
):
    """Search quality on your own queries, or chunk-to-document retrieval.

    With --queries: each query is searched in each mode and its documents scored against the
    relevant keys (docs/evaluation.md shows how to write such a file from your documents).
    Without: each chunk queries the index; relevant = other chunks of its document (build the
    index from held-out chunks that carry their document in a metadata field;
    scripts/eval_retrieval_table.py writes such a split).

    Examples:
      embedsearch eval retrieval --index notes --queries my-queries.jsonl
      embedsearch build --corpus heldout.jsonl --key-field key --encoder encoders/attention --out heldout
      embedsearch eval retrieval --index heldout
    """
    if queries is not None:
        from ..evaluate.search_quality import evaluate_search, read_queries
        from ..index import Index

        questions = read_queries(queries)
        searching = text_search_settings(None, fusion, alpha, False)
        with Index.open(index) as opened:
            results = evaluate_search(opened, questions, [mode.value for mode in modes or Mode],
                                      k=k, show_progress=not as_json, fusion=searching["fusion"])
        if as_json:
            print_json({"index": index, "results": results})
            return
        print_table(["mode", "queries", f"MRR@{k}", f"recall@{k}", f"nDCG@{k}"],
                    [[r["mode"], r["queries"], r["mrr"], r["recall"], r["ndcg"]] for r in results])
        return
    from ..evaluate.retrieval import evaluate_index

    result = evaluate_index(index, k=k, doc_field=doc_field, depth=depth, show_progress=not as_json)
    if as_json:
        print_json({"index": index, **result.to_dict()})
        return
    print_table(["index", "queries", f"recall@{k}", "MRR"],
                [[index, result.queries, result.recall_at_k, result.mrr]])
