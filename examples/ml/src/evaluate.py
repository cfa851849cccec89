"""Stage 4, evaluate: metrics and plots of the model on both sets, written into one directory.

    <out>/metrics.json                    average precision and ROC AUC, train and test
    <out>/plots/roc/{train,test}.json     ROC curve points (fpr, tpr, threshold)
    <out>/plots/prc/{train,test}.json     precision-recall curve points
    <out>/plots/confusion_matrix.png      on the test set
    <out>/plots/importance.png            the forest's most important words

Figures are drawn on matplotlib's Agg canvas (no display, no pyplot state).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn import metrics

TOP_WORDS = 20  # bars in the importance plot


def evaluate(model: Any, features: dict[str, Any], out: Path) -> dict[str, dict[str, float]]:
    """Write the metrics and plots under ``out``; return the metrics."""
    scores: dict[str, dict[str, float]] = {}
    for split in ("train", "test"):
        x, y = features[f"x_{split}"], features[f"y_{split}"]
        proba = model.predict_proba(x)[:, 1]
        scores[split] = {"avg_prec": round(float(metrics.average_precision_score(y, proba)), 6),
                         "roc_auc": round(float(metrics.roc_auc_score(y, proba)), 6)}
        fpr, tpr, roc_t = metrics.roc_curve(y, proba)
        _write_json(out / "plots" / "roc" / f"{split}.json",
                    [{"fpr": round(float(a), 6), "tpr": round(float(b), 6), "threshold": _num(t)}
                     for a, b, t in zip(fpr, tpr, roc_t)])
        prec, rec, prc_t = metrics.precision_recall_curve(y, proba)
        _write_json(out / "plots" / "prc" / f"{split}.json",
                    [{"precision": round(float(p), 6), "recall": round(float(r), 6),
                      "threshold": _num(t)} for p, r, t in zip(prec, rec, prc_t)])
    _write_json(out / "metrics.json", scores)

    predicted = model.predict(features["x_test"])
    _confusion_png(out / "plots" / "confusion_matrix.png",
                   metrics.confusion_matrix(features["y_test"], predicted, labels=[0, 1]))
    _importance_png(out / "plots" / "importance.png", features["feature_names"],
                    model.feature_importances_)
    return scores


def _num(t: Any) -> float | None:
    """A threshold as JSON allows it (roc_curve's first threshold is infinite)."""
    t = float(t)
    return round(t, 6) if t == t and abs(t) != float("inf") else None


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def _save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=80, metadata={"Software": None})  # no matplotlib version in the file


def _confusion_png(path: Path, matrix: Any) -> None:
    fig = Figure(figsize=(4, 4))
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues")
    for (i, j), n in ((ij, matrix[ij]) for ij in ((0, 0), (0, 1), (1, 0), (1, 1))):
        ax.text(j, i, str(n), ha="center", va="center")
    ax.set_xticks([0, 1], ["other", "python"])
    ax.set_yticks([0, 1], ["other", "python"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("test set")
    fig.tight_layout()
    _save(fig, path)


def _importance_png(path: Path, names: list[str], importances: Any) -> None:
    top = sorted(zip(importances, names), reverse=True)[:TOP_WORDS]
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    ax.barh([n for _, n in reversed(top)], [float(v) for v, _ in reversed(top)])
    ax.set_xlabel("importance")
    ax.set_title(f"top {len(top)} words")
    fig.tight_layout()
    _save(fig, path)
