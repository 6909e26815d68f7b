"""How far can re-weighting the retrieval signals we have go? A hindsight ceiling for hit@1.

The retriever ranks chunks from five signals: the chunk's cosine similarity, its best bullet,
its best bullet-or-clause, its section title (all all-MiniLM-L6-v2) and BM25. This script
computes them once per single-turn answerable question, then re-ranks with every combination
of a grid of fusion settings, *choosing the best with hindsight on the questions themselves*.
That best figure is not a result to ship (it is fitted to the questions); it is an upper bound
on what tuning these signals could reach. It also reports, per question, whether any single
signal alone puts the answering passage first, a looser bound still.

    python benchmarks/fusion_ceiling.py [--set seed-dev --set handbooks-dev]

Dev sets only: a held-out set is never used to choose weights, so the script refuses one.
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
    parser.add_argument("--set", action="append", dest="sets",
                        help="dev sets (default: every set whose name does not say holdout)")
    args = parser.parse_args()

    from dataclasses import replace

    from assistant.core import Assistant
    from assistant.evaluation import load_sets
    from assistant.settings import Settings

    sets = [s for s in load_sets(ROOT / "evals" / "thresholds.toml")
            if (s.name in args.sets if args.sets else "holdout" not in s.name)]
    if any("holdout" in s.name for s in sets):
        print("held-out sets are never used to choose settings", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="ceiling-"))
    try:
        for item in sets:
            settings = Settings(corpus_dir=item.corpus, index_dir=workdir / item.name)
            bot = Assistant.from_settings(settings)
            retriever = bot._ensure_state().retriever
            cases = [c for d in item.datasets for c in load_dataset(d)
                     if c.kind == "answerable" and not c.history]
            rows = []
            for case in cases:
                turn = bot._prepare({"question": case.question, "history": [],
                                     "scope": case.scope})
                signals = retriever.signals(turn.query, retriever.embed(turn.query),
                                            settings.fetch_k, turn.scope)
                # a chunk "answers" when the passage it returns (its whole section) holds
                # one of the case's evidence strings
                wanted = []
                for c in signals.chunks:
                    parent = retriever._parents[retriever._parent_of[int(c)]]
                    text = "\n".join(retriever.snapshot.chunks[retriever._chunk_ids[m]]["text"]
                                     for m in parent)
                    wanted.append(any(contains(text, e) for e in case.evidence))
                rows.append((signals, np.array(wanted)))

            def hit1(cfg: Settings, rows: list = rows, retriever=retriever,  # type: ignore[no-untyped-def]
                     settings: Settings = settings) -> int:
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
            print(f"\n{item.name} ({n} single-turn answerable questions, "
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
