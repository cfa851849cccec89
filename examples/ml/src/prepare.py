"""Stage 1, prepare: read the posts, label them, split them into a train and a test set."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

TARGET_TAG = "<python>"  # a post is positive when it carries this tag

Post = tuple[str, int, str]  # (post id, label, text)


def read_posts(path: Path) -> tuple[list[Post], list[str]]:
    """The labelled posts of an XML dump (one row per line), and a note for each broken line."""
    posts: list[Post] = []
    skipped: list[str] = []
    for num, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            attr = ET.fromstring(line).attrib
        except ET.ParseError as e:
            skipped.append(f"line {num}: {e}")
            continue
        label = 1 if TARGET_TAG in attr.get("Tags", "") else 0
        text = re.sub(r"\s+", " ", f"{attr.get('Title', '')} {attr.get('Body', '')}").strip()
        posts.append((attr.get("Id", ""), label, text))
    return posts, skipped


def split(posts: list[Post], test_share: float, seed: int) -> tuple[list[Post], list[Post]]:
    """(train, test): each post goes to the test set with probability ``test_share``."""
    rng = random.Random(seed)
    train: list[Post] = []
    test: list[Post] = []
    for p in posts:
        (test if rng.random() < test_share else train).append(p)
    return train, test
