"""Stage 2, featurize: bag of words, weighted by TF-IDF, learned on the train set only."""

from __future__ import annotations

from typing import Any

from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer


def featurize(train: list, test: list, max_features: int, ngrams: int) -> dict[str, Any]:
    """Sparse TF-IDF matrices and labels for both sets, and the vocabulary (for the importance plot)."""
    bag = CountVectorizer(stop_words="english", max_features=max_features,
                          ngram_range=(1, ngrams), lowercase=True)
    tfidf = TfidfTransformer(smooth_idf=False)
    train_counts = bag.fit_transform([text for _, _, text in train])
    tfidf.fit(train_counts)
    return {
        "x_train": tfidf.transform(train_counts),
        "y_train": [label for _, label, _ in train],
        "x_test": tfidf.transform(bag.transform([text for _, _, text in test])),
        "y_test": [label for _, label, _ in test],
        "feature_names": [str(n) for n in bag.get_feature_names_out()],
    }
