"""How far can re-weighting the retrieval signals we have go? A hindsight ceiling for hit@1.

The retriever ranks chunks from five signals: the chunk's cosine similarity, its best bullet,
its best bullet-or-clause, its section title (all all-MiniLM-L6-v2) and BM25. This script
computes them once per single-turn answerable question, then re-ranks with every combination
of a grid of fusion settings, *choosing the best with hindsight on the questions themselves*.
That best figure is not a result to ship (it is fitted to the questions); it is an upper bound
on what tuning these signals could reach. It also reports, per question, whether any single
signal alone puts the answering passage first, a looser bound still.

    python benchmarks/fusion_ceiling.py [--dataset evals/dataset.jsonl ...]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.evaluation import contains, load_dataset  # noqa: E402

GRID = {
    "weight_units": [0.0, 0.25, 0.5, 0.75, 1.0],
    "weight_title": [0.0, 0.25, 0.5],
    "weight_bm25": [0.0, 0.1, 0.2, 0.4],
    "rrf_k": [2, 5, 10],
    "phrases": [False, True],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", type=Path)
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    args = parser.parse_args()
    datasets = args.dataset or [ROOT / "evals" / "dataset.jsonl"]

    from dataclasses import replace

    from assistant.core import Assistant
    from assistant.settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix="ceiling-"))
    try:
        settings = Settings(corpus_dir=args.corpus, index_dir=workdir / "index")
        bot = Assistant.from_settings(settings)
        retriever = bot._ensure_state().retriever
        for dataset in datasets:
            cases = [c for c in load_dataset(dataset) if c.kind == "answerable" and not c.history]
            rows = []
            for case in cases:
                query = bot._prepare({"question": case.question, "history": []})["resolved"].query
                signals = retriever.signals(query, retriever.embed(query), settings.fetch_k)
                wanted = np.array([any(contains(retriever.snapshot.chunks[c]["text"], e)
                                       for e in case.evidence) for c in retriever._chunk_ids])
                rows.append((signals, wanted))

            def hit1(cfg: Settings, rows: list = rows) -> int:
                total = 0
                for signals, wanted in rows:
                    if not cfg.phrases:
                        signals = replace(signals, best_part=signals.best_unit)
                    fused = retriever.fuse_signals(signals, cfg, settings.top_k)
                    total += bool(wanted[int(np.argmax(fused))])
                return total

            current = hit1(settings)
            results = []
            for values in itertools.product(*GRID.values()):
                cfg = settings.model_copy(update=dict(zip(GRID, values, strict=True)))
                results.append((hit1(cfg), values))
            best, best_values = max(results, key=lambda r: r[0])
            alone = sum(
                any(bool(wanted[int(np.argmax(s))]) for s in
                    (signals.chunk, signals.best_part, signals.title, signals.keywords))
                for signals, wanted in rows)
            n = len(rows)
            print(f"\n{dataset} ({n} single-turn answerable questions, "
                  f"{len(results)} fusion settings tried)")
            print(f"  shipped settings              hit@1 {current / n:.3f} ({current}/{n})")
            print(f"  best setting, with hindsight  hit@1 {best / n:.3f} ({best}/{n})  "
                  f"{dict(zip(GRID, best_values, strict=True))}")
            print(f"  some one signal ranks it 1st  {alone / n:.3f} ({alone}/{n})")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
