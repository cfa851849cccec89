"""Stage 3, train: a random forest on the train set's features."""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import RandomForestClassifier


def train(x: Any, y: list[int], seed: int, n_est: int, min_split: float) -> RandomForestClassifier:
    """A fitted forest. One job: the same seed gives the same trees, byte for byte."""
    model = RandomForestClassifier(n_estimators=n_est, min_samples_split=min_split,
                                   criterion="gini", n_jobs=1, random_state=seed)
    model.fit(x, y)
    return model
