"""Realistic role corpora of any size, generated from the real documents of both evaluation
corpora (issue 11's corpus-growth benchmark).

The real documents are kept as they are (so the evaluation questions still have answers); the
other documents recombine the real documents' sections under new role titles, teams and
locations, with headings paraphrased by template and every figure varied, so their language is
that of real postings and their facts differ from the real ones. Seeded: the same size gives
the same corpus.

    python benchmarks/growth_corpus.py OUT_DIR --size 1000
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REAL = [ROOT / "evals" / "seed" / "corpus", ROOT / "evals" / "handbooks" / "corpus"]

LEVELS = ["Junior", "Associate", "Senior", "Staff", "Principal", "Lead", "Head of"]
FIELDS = ["Data", "Platform", "Mobile", "Security", "Frontend", "Backend", "Infrastructure",
          "Analytics", "Machine Learning", "Product", "Payments", "Growth", "Search", "Billing",
          "Identity", "Reliability", "Developer Experience", "Localization", "Compliance",
          "Customer Success", "Sales", "Marketing", "Finance", "People Operations", "Design"]
NOUNS = ["Engineer", "Manager", "Analyst", "Designer", "Specialist", "Scientist", "Advisor",
         "Architect", "Coordinator", "Researcher"]
PLACES = ["Berlin", "Lisbon", "Toronto", "Austin", "Singapore", "Nairobi", "Warsaw", "Dublin",
          "Remote (Americas)", "Remote (EMEA)", "Sao Paulo", "Melbourne", "Tallinn", "Denver"]
# heading paraphrases: real postings name the same section many ways
HEADINGS = {
    "responsibilities": ["What you'll do", "Your responsibilities", "In this role you will",
                         "Responsibilities"],
    "requirements": ["What we look for", "Qualifications", "You might be a fit if",
                     "Requirements"],
    "salary": ["Compensation", "Pay and benefits", "Salary range", "What we offer"],
    "career": ["Growth and career path", "Career development", "Where this role leads"],
    "skills": ["Skills we value", "Key skills", "Technical skills"],
}
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w])")


def real_documents() -> list[Path]:
    return [p for folder in REAL for p in sorted(folder.iterdir()) if p.is_file()]


def _sections(path: Path) -> list[tuple[str, list[str]]]:
    """(heading, lines) per section of a real document, through the project's own loader."""
    from assistant.loading import load_document, read_bytes

    raw, sha = read_bytes(path)
    document = load_document(raw, path.name, sha)
    out = []
    for section in document.sections:
        lines = [u.text for u in section.units if u.kind in ("bullet", "sentence", "row", "item")]
        if section.path[1:] and lines:
            out.append((section.path[-1], lines))
    return out


def _heading(name: str, rng: random.Random) -> str:
    low = name.lower()
    for key, variants in HEADINGS.items():
        if key[:6] in low:
            return rng.choice(variants)
    return name


def _vary(text: str, rng: random.Random) -> str:
    """Every figure scaled by one factor per line (ranges keep their order)."""
    factor = rng.choice([0.7, 0.8, 0.85, 0.9, 1.1, 1.2, 1.25, 1.4])

    def scaled(match: re.Match[str]) -> str:
        digits = match.group(1)
        value = float(digits.replace(",", ""))
        if value < 10 or 1900 <= value <= 2100:  # small counts and years stay as written
            return digits
        new = value * factor
        return f"{round(new):,}" if "," in digits else str(round(new))

    return _NUMBER.sub(scaled, text)


def generate(out: Path, size: int, seed: int = 11) -> list[str]:
    """Write `size` documents into `out` (the real ones first); returns the real file names."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    real = real_documents()
    if size == 1:
        real = real[:1]
    for path in real[:size]:
        shutil.copyfile(path, out / path.name)
    pool = [s for path in real_documents() for s in _sections(path)]
    titles: set[str] = set()
    for i in range(max(size - len(real), 0)):
        while True:
            title = f"{rng.choice(LEVELS)} {rng.choice(FIELDS)} {rng.choice(NOUNS)}"
            title = title if title not in titles else f"{title}, {rng.choice(FIELDS)} team"
            if title not in titles:
                break
        titles.add(title)
        place = rng.choice(PLACES)
        team = rng.choice(FIELDS)
        lines = ["---", f"title: {title}", f"team: {team}", f"location: {place}", "---", "",
                 f"# {title}", "",
                 f"The {team} team is hiring a {title} based in {place}.", ""]
        for name, body in rng.sample(pool, k=min(len(pool), rng.randint(5, 9))):
            lines += [f"## {_heading(name, rng)}", ""]
            for line in body[:rng.randint(3, 8)]:
                lines.append(f"- {_vary(line, rng)}")
            lines.append("")
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        (out / f"gen-{i:04d}-{slug}.md").write_text("\n".join(lines), encoding="utf-8")
    return [p.name for p in real[:size]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    real = generate(args.out, args.size, args.seed)
    print(f"{args.size} documents in {args.out} ({len(real)} real)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
