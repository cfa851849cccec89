"""Write data/data.xml: synthetic question posts, one XML row per line, as in a Stack Exchange dump.

The pipeline learns to tell posts tagged "python" from the others. The posts are made from word
lists with a seeded random generator, so the same arguments always write the same bytes (about
280 KB for the default 1,500 posts). A few lines are broken on purpose: `prepare` skips them, as
DVC's get-started does with its real dump.

    python generate_data.py                  # data/data.xml, 1,500 posts, seed 1
    python generate_data.py --seed 2         # other posts: everything downstream runs again
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from xml.sax.saxutils import quoteattr

COMMON = ("how", "to", "the", "a", "in", "with", "error", "when", "using", "file", "value", "list",
          "function", "loop", "string", "data", "why", "does", "not", "work", "get", "set", "new",
          "read", "write", "return", "test", "object", "array", "fast", "slow", "memory", "my",
          "server", "client", "request", "response", "config", "install", "version", "update",
          "build", "deploy", "docker", "linux", "windows", "path", "date", "time", "parse",
          "format", "sort", "filter", "map", "merge", "upload", "download", "image", "log", "debug",
          "thread", "process", "cache", "timeout", "unicode", "regex", "number", "integer")
TOPICS = {
    "python": ("python", "pandas", "numpy", "django", "flask", "pip", "venv", "dataframe", "def",
               "import", "dict", "tuple", "pytest", "asyncio", "decorator", "generator"),
    "javascript": ("javascript", "react", "node", "npm", "promise", "await", "dom", "json",
                   "typescript", "webpack", "callback", "closure"),
    "java": ("java", "spring", "maven", "jvm", "class", "interface", "gradle", "hibernate",
             "stream", "exception", "servlet", "jar"),
    "sql": ("sql", "postgres", "mysql", "join", "index", "query", "table", "transaction",
            "select", "schema", "sqlite", "orm"),
}
OTHER_TAGS = ("javascript", "java", "sql")


def post(rng: random.Random, pid: int) -> str:
    """One row: a post of one topic, its words mixed with common ones and a few from other topics."""
    topic = "python" if rng.random() < 0.3 else rng.choice(OTHER_TAGS)

    def words(n: int) -> str:
        out = []
        for _ in range(n):
            r = rng.random()
            pool = COMMON if r < 0.65 else TOPICS[topic] if r < 0.8 else TOPICS[rng.choice(list(TOPICS))]
            out.append(rng.choice(pool))
        return " ".join(out)

    tags = f"<{topic}>" + (f"<{rng.choice(TOPICS[topic][1:4])}>" if rng.random() < 0.5 else "")
    return (f"  <row Id={quoteattr(str(pid))} Tags={quoteattr(tags)} "
            f"Title={quoteattr(words(rng.randint(4, 9)))} Body={quoteattr(words(rng.randint(8, 20)))} />")


def generate(path: Path, rows: int = 1500, seed: int = 1) -> Path:
    rng = random.Random(seed)
    lines = []
    for pid in range(1, rows + 1):
        line = post(rng, pid)
        if pid % 250 == 0:  # a truncated line, as real dumps have
            line = line[: len(line) // 2]
        lines.append(line)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1500, help="number of posts (default 1500)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / "data.xml",
                        help="where to write (default data/data.xml beside this script)")
    args = parser.parse_args()
    out = generate(args.out, args.rows, args.seed)
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {args.rows} posts, seed {args.seed})")


if __name__ == "__main__":
    main()
