"""PNG charts of evaluation reports, drawn with matplotlib (a dependency of embedsearch).

Kept apart from the evaluations, and matplotlib imported only when a chart
is drawn, so that computing a figure never pays for loading it; a broken
matplotlib install is one clear error, before the evaluation runs.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def require_matplotlib() -> None:
    """Fail at once, before a long evaluation, if a chart was asked for without matplotlib."""
    _pyplot()


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise InputError("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_analogy_sections(report, path: str | Path) -> Path:
    """Horizontal bars: accuracy per section, overall accuracy as a line, counts as labels."""
    plt = _pyplot()
    sections = [s for s in report.sections if s.total]
    names = [s.name for s in sections]
    accuracies = [100 * s.accuracy for s in sections]
    figure, axes = plt.subplots(figsize=(9, 0.42 * len(names) + 1.6))
    positions = range(len(names))[::-1]
    axes.barh(list(positions), accuracies, color="#4c72b0")
    for y, section, accuracy in zip(positions, sections, accuracies):
        axes.text(accuracy + 0.8, y, f"{accuracy:.1f}% ({len(section.correct)}/{section.total})",
                  va="center", fontsize=8, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    axes.axvline(100 * report.accuracy, color="#c44e52", linestyle="--",
                 label=f"overall {100 * report.accuracy:.2f}%")
    axes.set_yticks(list(positions), names, fontsize=9)
    axes.set_xlim(0, 115)
    axes.set_xlabel("accuracy (%)")
    method = "3CosAdd" if report.method == "add" else "3CosMul"
    axes.set_title(f"{Path(report.path).name}: {method}, {report.skipped} questions skipped", fontsize=10)
    axes.legend(loc="lower right", fontsize=8)
    return _save(figure, plt, path)


def plot_ann(report, path: str | Path) -> Path:
    """Recall@k against queries per second: the index as configured, its knob sweep, exact search."""
    plt = _pyplot()
    from matplotlib import ticker

    figure, axes = plt.subplots(figsize=(7, 4.5))
    if report.sweep:
        qps = [p.qps for p in report.sweep]
        recall = [p.recall for p in report.sweep]
        axes.plot(qps, recall, "o-", color="#4c72b0", label=f"{report.index_type} sweep")
        for point in report.sweep:
            (name, value), = point.setting.items()
            axes.annotate(f"{name}={value}", (point.qps, point.recall), fontsize=7,
                          textcoords="offset points", xytext=(4, -10))
    axes.plot([report.qps], [report.recall], "*", markersize=14, color="#c44e52", zorder=3,
              label=f"{report.index} as configured ({report.index_type})")
    axes.plot([report.exact_qps], [1.0], "s", color="#55a868", label="exact search (brute force)")
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axes.xaxis.set_minor_formatter(ticker.NullFormatter())
    axes.set_xlabel("queries per second (batched, log scale)")
    axes.set_ylabel(f"recall@{report.k}")
    lowest = min([report.recall] + [p.recall for p in report.sweep])
    axes.set_ylim(max(0.0, lowest - 0.05), 1.01)
    axes.grid(True, alpha=0.3)
    axes.set_title(f"{report.index}: recall@{report.k} vs speed, {report.sample} sample queries", fontsize=10)
    axes.legend(fontsize=8, loc="lower left")
    return _save(figure, plt, path)


def _save(figure, plt, path: str | Path) -> Path:
    path = Path(path)
    try:
        figure.tight_layout()
        figure.savefig(path, dpi=120)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}") from None
    finally:
        plt.close(figure)
    return path
