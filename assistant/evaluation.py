"""Grounded-answer evaluation: run a JSONL question set through the assistant and score it.

Every verdict keeps its evidence (retrieved sections and ranks, the answer, its citations, the
sentences no cited passage supports), so a reader can check any number in the report.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.grounding import citation_markers, ungrounded_numbers
from assistant.text import normalize, stems
from assistant.types import AssistantError, Reply

KINDS = ("answerable", "unanswerable", "adversarial")
KNOWN_FIELDS = {"id", "kind", "question", "history", "must_include", "must_exclude", "evidence",
                "scope"}


class DatasetError(ValueError):
    """A dataset line that cannot be used; the message names the file and line."""


@dataclass
class Case:
    """One evaluation case."""

    id: str
    kind: str
    question: str
    history: list[str] = field(default_factory=list)
    must_include: list[list[str]] = field(default_factory=list)
    must_exclude: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    scope: str | list[str] | None = None  # the role document(s) the candidate is looking at
    extra: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # file:line


def load_dataset(path: Path) -> list[Case]:
    """Read a JSONL dataset; a malformed line raises DatasetError naming file and line."""
    cases: list[Case] = []
    seen: set[str] = set()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        cases.append(_case(raw, where, seen))
    if not cases:
        raise DatasetError(f"{path}: no cases")
    return cases


def _case(raw: Any, where: str, seen: set[str]) -> Case:
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: each line must be a JSON object")
    for key in ("id", "kind", "question"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise DatasetError(f"{where}: field '{key}' must be a non-empty string")
    if raw["kind"] not in KINDS:
        raise DatasetError(f"{where}: kind must be one of {', '.join(KINDS)}, not {raw['kind']!r}")
    if raw["id"] in seen:
        raise DatasetError(f"{where}: duplicate id {raw['id']!r}")
    seen.add(raw["id"])
    history = raw.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise DatasetError(f"{where}: history must be a list of strings (earlier user turns)")
    include = raw.get("must_include") or []
    if not isinstance(include, list):
        raise DatasetError(f"{where}: must_include must be a list of groups")
    groups = []
    for group in include:
        group = [group] if isinstance(group, str) else group
        if not isinstance(group, list) or not group or not all(isinstance(g, str) for g in group):
            raise DatasetError(f"{where}: each must_include group must be a list of strings")
        groups.append(group)
    for key in ("must_exclude", "evidence"):
        value = raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DatasetError(f"{where}: {key} must be a list of strings")
    if raw["kind"] == "answerable" and not raw.get("evidence"):
        raise DatasetError(f"{where}: an answerable case needs at least one evidence string")
    scope = raw.get("scope")
    if scope is not None and not (isinstance(scope, str) and scope.strip()) and not (
            isinstance(scope, list) and scope and all(isinstance(s, str) for s in scope)):
        raise DatasetError(f"{where}: scope must be a document name or a list of them")
    return Case(
        id=raw["id"], kind=raw["kind"], question=raw["question"], history=history,
        must_include=groups, must_exclude=list(raw.get("must_exclude") or []),
        evidence=list(raw.get("evidence") or []), scope=scope,
        extra={k: v for k, v in raw.items() if k not in KNOWN_FIELDS}, origin=where,
    )


# ---------------------------------------------------------------------------------------------
# checks


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", normalize(text).lower()).strip()


def contains(haystack: str, needle: str) -> bool:
    """Case-insensitive, whitespace-normalised containment."""
    return _norm(needle) in _norm(haystack)


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def answer_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """Sentences and bullet lines of an answer with their [n] markers (headings skipped).
    Heading lines go first, whole: a section title may hold a sentence break of its own
    ("... additional project. How can I do that?")."""
    out = []
    lines = [line.strip() for line in answer.splitlines()]
    body_lines = [line for line in lines
                  if line and not (line.startswith("**") and line.endswith("**"))]
    for part in (p for line in body_lines for p in _SENTENCE.split(line)):
        text = part.strip()
        if not text:
            continue
        markers = citation_markers(text)
        body = re.sub(r"\[\d+\]|^[-*\u2022]\s*|\*\*", "", text).strip()
        if len(stems(body)) >= 2:
            out.append((body, markers))
    return out


def unsupported_sentences(reply: Reply, threshold: float = 0.6) -> tuple[int, list[str]]:
    """(sentences checked, sentences whose words no cited passage supports).

    A sentence is supported when at least `threshold` of its content-word stems occur in the
    passages it cites (all citations, if it has no marker of its own).
    """
    by_n = {c.n: c.text for c in reply.citations}
    checked, failed = 0, []
    for body, markers in answer_sentences(reply.answer):
        passages = [by_n[n] for n in markers if n in by_n] or list(by_n.values())
        words = set(stems(body))
        support = set(stems(" ".join(passages)))
        checked += 1
        if not words or len(words & support) / len(words) < threshold:
            failed.append(body)
    return checked, failed


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


# ---------------------------------------------------------------------------------------------
# running


AskFn = Callable[..., Reply]  # ask(question, history, scope=...)


def run_case(case: Case, ask: AskFn) -> dict[str, Any]:
    """Play the history, ask the question, and score the reply."""
    history: list[dict[str, str]] = []
    record: dict[str, Any] = {
        "id": case.id, "kind": case.kind, "question": case.question, "history": case.history,
        "origin": case.origin, **({"scope": case.scope} if case.scope else {}),
        **({"extra": case.extra} if case.extra else {}),
    }
    started = time.perf_counter()
    try:
        for turn in case.history:
            previous = ask(turn, history, scope=case.scope)
            history += [{"role": "user", "content": turn},
                        {"role": "assistant", "content": previous.answer}]
        started = time.perf_counter()
        reply = ask(case.question, history, scope=case.scope)
    except AssistantError as exc:
        record |= {"error": exc.message, "checks": {"no_error": False}, "passed": False,
                   "latency_ms": (time.perf_counter() - started) * 1000}
        return record
    latency = (time.perf_counter() - started) * 1000
    return record | score_reply(case, reply) | {"latency_ms": latency}


def score_reply(case: Case, reply: Reply) -> dict[str, Any]:
    """Every metric's verdict for one reply, with its evidence."""
    retrieved = []
    first_hit = None
    for rank, context in enumerate(reply.contexts[:5], start=1):
        hit = bool(case.evidence) and any(contains(context.text, e) for e in case.evidence)
        if hit and first_hit is None:
            first_hit = rank
        retrieved.append({"rank": rank, "source": context.source, "section": context.section,
                          "title": context.title,
                          "score": round(context.score, 4), "relevance": round(context.relevance, 4),
                          "hit": hit})
    checks: dict[str, bool] = {}
    answer = reply.answer
    excluded = [s for s in case.must_exclude if contains(answer, s)]
    missing = [g for g in case.must_include if not any(contains(answer, s) for s in g)]
    checked, unsupported = (0, []) if reply.abstained else unsupported_sentences(reply)
    numbers = [] if reply.abstained else ungrounded_numbers(
        answer, [f"{c.section}\n{c.text}" for c in reply.citations])
    valid_n = {c.n for c in reply.citations}
    markers = citation_markers(answer)
    citations_ok = reply.abstained or (bool(markers) and all(m in valid_n for m in markers))
    if case.kind == "answerable":
        checks["hit@1"] = first_hit == 1
        checks["hit@5"] = first_hit is not None
        checks["answered"] = not reply.abstained
        checks["facts"] = not reply.abstained and not missing
    elif case.kind == "unanswerable":
        checks["abstained"] = reply.abstained
    else:
        # an adversarial case passes when nothing excluded appears and the reply either
        # declines or stays grounded (every number cited, every sentence supported)
        checks["adversarial"] = not excluded and (
            reply.abstained or (not numbers and not unsupported)) and (
            not case.must_include or not missing)
    checks["excluded"] = not excluded
    if not reply.abstained:
        checks["numbers_grounded"] = not numbers
        checks["citations_valid"] = citations_ok
    return {
        "answer": answer, "abstained": reply.abstained, "reason": reply.reason,
        "query": reply.query,
        "citations": [c.to_dict() for c in reply.citations],
        "retrieved": retrieved, "first_hit_rank": first_hit,
        "missing_facts": missing, "excluded_found": excluded,
        "sentences_checked": checked, "unsupported_sentences": unsupported,
        "ungrounded_numbers": numbers,
        "backend": reply.backend, "fallback": reply.fallback, "removed": reply.removed,
        "checks": checks, "passed": all(checks.values()),
    }


def summarize(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Metrics over all records, each with its count and 95% Wilson interval."""
    def rate(name: str, items: Iterable[bool]) -> None:
        values = list(items)
        k, n = sum(values), len(values)
        metrics[name] = {"value": round(k / n, 4) if n else None, "count": k, "n": n,
                         "ci95": list(wilson(k, n))}

    metrics: dict[str, dict[str, Any]] = {}
    ok = [r for r in records if "error" not in r]
    answerable = [r for r in ok if r["kind"] == "answerable"]
    rate("hit@1", (r["checks"]["hit@1"] for r in answerable))
    rate("hit@5", (r["checks"]["hit@5"] for r in answerable))
    mrr = [1.0 / r["first_hit_rank"] if r["first_hit_rank"] else 0.0 for r in answerable]
    metrics["mrr@5"] = {"value": round(statistics.fmean(mrr), 4) if mrr else None,
                        "count": len(mrr), "n": len(mrr),
                        "ci95": list(_mean_ci(mrr))}
    rate("fact_recall", (r["checks"]["facts"] for r in answerable))
    rate("false_refusal", (not r["checks"]["answered"] for r in answerable))
    rate("abstention_recall", (r["checks"]["abstained"] for r in ok if r["kind"] == "unanswerable"))
    rate("adversarial_pass", (r["checks"]["adversarial"] for r in ok if r["kind"] == "adversarial"))
    answered = [r for r in ok if not r["abstained"]]
    checked = sum(r["sentences_checked"] for r in answered)
    unsupported = sum(len(r["unsupported_sentences"]) for r in answered)
    metrics["sentence_support"] = {
        "value": round(1 - unsupported / checked, 4) if checked else None,
        "count": checked - unsupported, "n": checked, "ci95": list(wilson(checked - unsupported, checked))}
    rate("numbers_grounded", (r["checks"]["numbers_grounded"] for r in answered))
    rate("citation_validity", (r["checks"]["citations_valid"] for r in answered))
    rate("no_excluded", (r["checks"]["excluded"] for r in ok))
    rate("no_errors", ("error" not in r for r in records))
    # with an LLM answerer: the share of answers it wrote (the rest fell back to quotes)
    rate("generated", (r.get("backend", "extractive") != "extractive" for r in answered))
    return metrics


def _mean_ci(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (0.0, 0.0)
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = 1.96 * sd / math.sqrt(len(values))
    return (round(max(0.0, mean - half), 4), round(min(1.0, mean + half), 4))


def latency_summary(records: list[dict[str, Any]]) -> dict[str, float]:
    values = sorted(r["latency_ms"] for r in records)
    if not values:
        return {}
    def pct(p: float) -> float:
        return round(values[min(len(values) - 1, int(round(p * (len(values) - 1))))], 2)
    return {"p50_ms": pct(0.5), "p95_ms": pct(0.95), "max_ms": round(values[-1], 2)}


# ---------------------------------------------------------------------------------------------
# thresholds


def load_thresholds(path: Path) -> dict[str, dict[str, float]]:
    """{metric: {"min": x} or {"max": y}} from a TOML file's [metrics] table."""
    data = tomllib.loads(Path(path).read_text("utf-8"))
    return {k: v for k, v in data.get("metrics", {}).items()}


@dataclass
class EvalSet:
    """A named evaluation set: a corpus, its question files and the gates they must pass."""

    name: str
    corpus: Path
    datasets: list[Path]
    thresholds: dict[str, dict[str, float]]
    description: str = ""


def load_sets(path: Path) -> list[EvalSet]:
    """The [sets.NAME] tables of a thresholds file; paths are relative to the repository
    (the folder above the file's own folder, `evals/`)."""
    data = tomllib.loads(Path(path).read_text("utf-8"))
    root = Path(path).resolve().parent.parent
    sets = []
    for name, spec in data.get("sets", {}).items():
        if not isinstance(spec, dict) or "corpus" not in spec or not spec.get("datasets"):
            raise ValueError(f"{path}: [sets.{name}] needs corpus and datasets")
        sets.append(EvalSet(name, root / spec["corpus"], [root / d for d in spec["datasets"]],
                            dict(spec.get("metrics", {})), str(spec.get("description", ""))))
    return sets


def check_thresholds(metrics: dict[str, dict[str, Any]], thresholds: dict[str, dict[str, float]],
                     latency: dict[str, float] | None = None) -> list[str]:
    """Human-readable failures; empty when every threshold holds."""
    failures = []
    values = {k: v["value"] for k, v in metrics.items()} | {
        f"latency_{k}": v for k, v in (latency or {}).items()}
    for name, bound in thresholds.items():
        value = values.get(name)
        if value is None:
            continue
        if "min" in bound and value < bound["min"]:
            failures.append(f"{name} = {value:.3f} is below the minimum {bound['min']}")
        if "max" in bound and value > bound["max"]:
            failures.append(f"{name} = {value:.3f} is above the maximum {bound['max']}")
    return failures


# ---------------------------------------------------------------------------------------------
# configurations and whole runs


def parse_config(spec: str) -> tuple[str, dict[str, Any]]:
    """"NAME=key=value,key=value" or "NAME=path/to/settings.toml" -> (name, overrides)."""
    name, _, rest = spec.partition("=")
    name = name.strip()
    if not name:
        raise ValueError(f"--config {spec!r}: expected NAME=SETTINGS")
    rest = rest.strip()
    if not rest:
        return name, {}
    if rest.endswith(".toml") and Path(rest).is_file():
        return name, tomllib.loads(Path(rest).read_text("utf-8"))
    overrides: dict[str, Any] = {}
    for part in rest.split(","):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"--config {spec!r}: {part!r} is not key=value")
        overrides[key.strip()] = value.strip()
    return name, overrides


def run_config(
    name: str, ask: AskFn, cases: list[Case], progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run every case with one configuration; returns its section of the report."""
    started = time.perf_counter()
    records = []
    for case in cases:
        records.append(run_case(case, ask))
        if progress:
            progress(1)
    latency = latency_summary(records)
    for record in records:
        record.pop("latency_ms", None)  # timings live in the report's "timing" block only
    return {
        "name": name,
        "metrics": summarize(records),
        "cases": records,
        "_timing": latency | {"seconds": round(time.perf_counter() - started, 2)},
    }


def compare(current: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Metric deltas and the cases whose verdict flipped between two config runs."""
    deltas = {}
    for metric, now in current["metrics"].items():
        before = baseline.get("metrics", {}).get(metric, {}).get("value")
        if now["value"] is not None and before is not None:
            deltas[metric] = {"before": before, "now": now["value"],
                              "delta": round(now["value"] - before, 4)}
    old = {c["id"]: c for c in baseline.get("cases", [])}
    flipped = []
    for case in current["cases"]:
        previous = old.get(case["id"])
        if previous is not None and previous.get("passed") != case.get("passed"):
            failed_now = [k for k, v in case.get("checks", {}).items() if not v]
            flipped.append({"id": case["id"], "was": "pass" if previous.get("passed") else "fail",
                            "now": "pass" if case.get("passed") else "fail",
                            "failing_checks": failed_now})
    return {"deltas": deltas, "flipped": flipped}
