"""Texts the embedding model reads per chunk under each `unit_vectors` mode (no model needed).

Each corpus is indexed once per mode with a stand-in model that counts the texts it is given
(every forward pass is one text; identical texts are read once, as the real build reuses them)
and returns constant vectors, so the counts come in seconds. Answer quality per mode is
measured with the real model by `assistant eval`:

    python benchmarks/unit_vector_costs.py                   # both evaluation corpora
    python benchmarks/unit_vector_costs.py --growth 1000     # also a generated 1,000-doc corpus
    assistant eval --set seed-dev --set handbooks-dev --config separate=unit_vectors=separate \\
        --config late=unit_vectors=late
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MODES = ["separate", "late"]


class CountingStandIn:
    """Counts the texts a build reads; every vector is the same unit vector."""

    def __init__(self) -> None:
        self.texts = 0

    def _vectors(self, count: int) -> list[list[float]]:
        return [[1.0] + [0.0] * 7 for _ in range(count)]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts += len(texts)
        return self._vectors(len(texts))

    def embed_query(self, text: str) -> list[float]:
        return self._vectors(1)[0]

    def embed_spans(self, texts: list[str], spans: list[Any]) -> Any:
        self.texts += len(texts)
        return self._vectors(len(texts)), [self._vectors(len(s)) for s in spans]


def count(corpus: Path, mode: str) -> tuple[int, int]:
    from assistant.index import build_index
    from assistant.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="unit-vector-costs-"))
    try:
        model = CountingStandIn()
        report = build_index(Settings(corpus_dir=corpus, index_dir=folder, unit_vectors=mode),
                             embeddings_factory=lambda: model)
        return report.chunks, model.texts
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--growth", type=int, nargs="*", default=[],
                        help="also generated corpora of these sizes (benchmarks/growth_corpus.py)")
    args = parser.parse_args()
    corpora = {"seed": ROOT / "evals" / "seed" / "corpus",
               "handbooks": ROOT / "evals" / "handbooks" / "corpus"}
    for size in args.growth:
        from growth_corpus import generate

        folder = Path(tempfile.mkdtemp(prefix="growth-corpus-"))
        generate(folder, size)
        corpora[f"generated {size}"] = folder
    print(f"{'corpus':<16}{'mode':<12}{'chunks':>8}{'texts':>8}{'texts/chunk':>13}")
    for name, corpus in corpora.items():
        for mode in MODES:
            chunks, texts = count(corpus, mode)
            print(f"{name:<16}{mode:<12}{chunks:>8}{texts:>8}{texts / chunks:>13.2f}")
    print("\ntexts: forward passes of the embedding model (chunks, bullets, clauses of long "
          "bullets, section titles, vocabulary words; a text is read once however often it "
          "occurs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
