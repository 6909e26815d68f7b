"""Calibrate the grounding guard's embedding threshold (`guard_min_similarity`) on dev sets.

    python evals/calibrate_guard.py            # prints the distributions and the threshold

The guard accepts a generated sentence whose words the cited passages do not hold when its
embedding is at least `guard_min_similarity` similar to one of their units. The threshold is
set so that claims the passage does NOT make pass at most `--false-accept` of the time:

- negatives: for each answerable dev question, the passage the assistant cites, and claims
  taken from other top-level sections of the same document (true of the role, not of this
  passage: the hardest kind of unsupported sentence, same vocabulary, wrong place);
- reference (printed, not used to choose): the question itself against the same passage, the
  closest thing to a paraphrase in the candidate's own words.

Only the dev sets are read (`--set` names any of the thresholds file's sets; held-out sets
are refused), so the held-out sets stay untouched by the choice.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from assistant.core import Assistant
    from assistant.eval_runner import set_settings
    from assistant.evaluation import load_dataset, load_sets
    from assistant.guard import Guard, Source
    from assistant.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=None,
                        help="dev sets to use (default: seed-dev and handbooks-dev)")
    parser.add_argument("--false-accept", type=float, default=0.05,
                        help="share of unsupported claims the threshold may let through")
    parser.add_argument("--claims", type=int, default=3, help="negative claims per question")
    args = parser.parse_args()
    names = args.set or ["seed-dev", "handbooks-dev"]
    sets = {s.name: s for s in load_sets(ROOT / "evals" / "thresholds.toml")}
    if any("holdout" in n for n in names):
        parser.error("held-out sets are never used to choose a setting")
    rng = random.Random(7)
    negatives: list[float] = []
    reference: list[float] = []
    embeddings = None
    for name in names:
        item = sets[name]
        settings = set_settings(Settings(index_dir=ROOT / "index"), item)
        bot = Assistant.from_settings(settings, embeddings=embeddings)
        embeddings = bot.embeddings
        guard = Guard(settings, embeddings.embed_documents)
        snapshot = bot._ensure_state().snapshot
        units_by_doc: dict[str, list[tuple[str, str]]] = {}
        for text, meta in zip(snapshot.unit_texts, snapshot.unit_meta, strict=True):
            if meta.get("kind") in ("bullet", "sentence", "row"):
                top = str(meta.get("section", "")).split(" > ")[:2]
                units_by_doc.setdefault(meta["source"], []).append((" > ".join(top), text))
        cases = [c for path in item.datasets for c in load_dataset(path)
                 if c.kind == "answerable"]
        for case in cases:
            reply = bot.ask(case.question, case.history)
            if reply.abstained or not reply.citations:
                continue
            cited = reply.citations[0]
            source = Source(1, cited.text, [line.lstrip("- ").strip()
                                            for line in cited.text.splitlines() if line.strip()])
            top = " > ".join(cited.section.split(" > ")[:2])
            others = [t for s, t in units_by_doc.get(cited.source, []) if s != top]
            for claim in rng.sample(others, min(args.claims, len(others))):
                negatives.append(guard.similarity(claim, [source]))
            reference.append(guard.similarity(case.question, [source]))
        print(f"{name}: {len(cases)} answerable questions")
    neg = np.asarray(negatives)
    ref = np.asarray(reference)
    threshold = float(np.quantile(neg, 1 - args.false_accept))
    print(f"negatives (claims from other sections): n={len(neg)} "
          f"p50={np.median(neg):.3f} p90={np.quantile(neg, 0.9):.3f} "
          f"p95={np.quantile(neg, 0.95):.3f} max={neg.max():.3f}")
    print(f"reference (the question vs its cited passage): n={len(ref)} "
          f"p10={np.quantile(ref, 0.1):.3f} p50={np.median(ref):.3f}")
    print(f"threshold letting {args.false_accept:.0%} of unsupported claims through: "
          f"{threshold:.3f} (round up to 2 decimals for guard_min_similarity); "
          f"questions above it: {(ref >= threshold).mean():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
