"""`assistant eval`: build each configuration's assistant, run the datasets, print and write reports."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from assistant.eval_report import render_html
from assistant.evaluation import (
    DatasetError,
    EvalSet,
    check_thresholds,
    compare,
    load_dataset,
    load_thresholds,
    parse_config,
    run_config,
)
from assistant.settings import Settings
from assistant.types import AssistantError

TABLE_METRICS = ["hit@1", "hit@5", "mrr@5", "fact_recall", "false_refusal", "abstention_recall",
                 "adversarial_pass", "sentence_support", "numbers_grounded", "citation_validity",
                 "no_excluded", "no_errors", "generated"]


def config_settings(base: Settings, overrides: dict[str, Any]) -> Settings:
    """Settings for one configuration; a different index shape gets its own index folder."""
    merged = base.model_dump() | overrides
    settings = Settings(**merged)
    if settings.fingerprint() != base.fingerprint() and "index_dir" not in overrides:
        key = hashlib.sha256(json.dumps(settings.fingerprint(), sort_keys=True).encode()).hexdigest()
        settings = settings.model_copy(update={"index_dir": base.index_dir / "variants" / key[:12]})
    return settings


def set_settings(base: Settings, item: EvalSet) -> Settings:
    """`base` pointed at an evaluation set's corpus, with an index folder of that corpus's own
    under `index_dir/eval/` (built once, reused by every run on the set)."""
    key = hashlib.sha256(str(item.corpus.resolve()).encode()).hexdigest()[:8]
    return base.model_copy(update={
        "corpus_dir": item.corpus,
        "index_dir": base.index_dir / "eval" / f"{item.corpus.parent.name}-{key}"})


def run_eval(
    base: Settings, datasets: list[Path], report: Path | None, html: Path | None,
    baseline: Path | None, configs: list[str], thresholds: Path | None, judge: bool,
    console: Console, err: Console,
) -> int:
    """Run question files on `base`'s corpus. Returns 0 pass, 1 a threshold failed, 2 bad input."""
    try:
        cases = [case for path in datasets for case in load_dataset(path)]
        bounds = load_thresholds(thresholds) if thresholds else {}
    except (DatasetError, ValueError, OSError) as exc:
        err.print(f"[red]{exc}[/red]")
        return 2
    document, code = _evaluate(base, cases, configs, bounds, judge, console, err)
    if document is None:
        return code
    document = {"datasets": [str(p) for p in datasets], **document}
    _finish(document, report, html, baseline, console, err)
    if code == 1:
        _print_failures(err, thresholds, document["configs"][0])
    elif bounds:
        console.print(f"All thresholds in {thresholds} hold for config "
                      f"'{document['configs'][0]['name']}'.")
    return code


def run_sets(
    base: Settings, sets: list[EvalSet], report: Path | None, html: Path | None,
    baseline: Path | None, configs: list[str], judge: bool, console: Console, err: Console,
    thresholds: Path | None = None, gate: bool = True,
) -> int:
    """Run named evaluation sets, each on its own corpus and gated by its own thresholds."""
    documents: dict[str, Any] = {}
    failed: list[str] = []
    for item in sets:
        try:
            cases = [case for path in item.datasets for case in load_dataset(path)]
        except (DatasetError, OSError) as exc:
            err.print(f"[red]{exc}[/red]")
            return 2
        settings = set_settings(base, item)
        console.rule(f"{item.name}: {len(cases)} cases from "
                     f"{', '.join(str(p) for p in item.datasets)}")
        document, code = _evaluate(settings, cases, configs, item.thresholds if gate else {},
                                   judge, console, err, title=f"Grounded-answer evaluation: "
                                   f"{item.name}")
        if document is None:
            return code
        documents[item.name] = {"corpus": str(item.corpus),
                                "datasets": [str(p) for p in item.datasets], **document}
        if code == 1:
            failed.append(item.name)
            _print_failures(err, thresholds, document["configs"][0], item.name)
        elif gate and item.thresholds:
            console.print(f"All thresholds of set '{item.name}' hold for config "
                          f"'{document['configs'][0]['name']}'.")
    _finish({"sets": documents}, report, html, baseline, console, err)
    if failed:
        err.print(f"[red]Sets below their thresholds: {', '.join(failed)}[/red]")
        return 1
    return 0


def _evaluate(
    base: Settings, cases: list[Any], configs: list[str], bounds: dict[str, dict[str, float]],
    judge: bool, console: Console, err: Console, title: str = "Grounded-answer evaluation",
) -> tuple[dict[str, Any] | None, int]:
    """Every configuration over the cases; (report document, 0 or 1), or (None, 2)."""
    from assistant.core import Assistant

    try:
        parsed = [parse_config(spec) for spec in configs]
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        return None, 2
    names = [name for name, _ in parsed]
    if len(set(names)) != len(names):
        err.print("[red]Each --config needs its own NAME.[/red]")
        return None, 2

    results = []
    shared_embeddings = None
    for name, overrides in parsed:
        try:
            settings = config_settings(base, overrides)
        except Exception as exc:  # noqa: BLE001 - pydantic explains what is wrong
            err.print(f"[red]--config {name}: {exc}[/red]")
            return None, 2
        try:
            bot = Assistant.from_settings(settings, embeddings=shared_embeddings)
        except AssistantError as exc:
            err.print(f"[red]{name}: {exc.message}[/red]")
            return None, 2
        if settings.embedding_model == base.embedding_model:
            shared_embeddings = bot.embeddings
        with console.status(f"Running {len(cases)} cases with config '{name}'..."):
            result = run_config(name, bot.ask, cases)
        result["settings"] = overrides
        if judge:
            _judge(result, settings, err)
        results.append(result)

    failures = check_thresholds(results[0]["metrics"], bounds,
                                {k: v for k, v in results[0]["_timing"].items()})
    results[0]["threshold_failures"] = failures
    document = {
        "configs": [{k: v for k, v in r.items() if k != "_timing"} for r in results],
        "timing": {r["name"]: r["_timing"] for r in results},
    }
    _print_table(console, results, title)
    return document, 1 if failures else 0


def _finish(document: dict[str, Any], report: Path | None, html: Path | None,
            baseline: Path | None, console: Console, err: Console) -> None:
    if baseline is not None:
        if "sets" in document:
            for name, part in document["sets"].items():
                _print_baseline(console, err, part["configs"][0], baseline, name)
        else:
            _print_baseline(console, err, document["configs"][0], baseline)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
        console.print(f"JSON report: {report}")
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(document), encoding="utf-8")
        console.print(f"HTML report: {html}")


def _print_failures(err: Console, thresholds: Path | None, config: dict[str, Any],
                    name: str = "") -> None:
    where = f" of set '{name}'" if name else f" ({thresholds})"
    err.print(f"[red]Below thresholds{where} for config '{config['name']}':[/red]")
    for failure in config.get("threshold_failures", []):
        err.print(f"  - {failure}")


def _judge(result: dict[str, Any], settings: Settings, err: Console) -> None:
    from assistant.judge import Judge, JudgeUnavailable

    try:
        judge = Judge(settings)
    except JudgeUnavailable as exc:
        err.print(f"[yellow]LLM judge skipped: {exc}[/yellow]")
        return
    scores: dict[str, list[float]] = {"faithfulness": [], "relevance": []}
    for case in result["cases"]:
        if case.get("abstained", True) or "error" in case:
            continue
        verdict = judge.score(case["question"], case["answer"],
                              [c["text"] for c in case.get("citations", [])])
        case["judge"] = verdict
        for key in scores:
            if verdict.get(key) is not None:
                scores[key].append(verdict[key])
    for key, values in scores.items():
        result["metrics"][f"judge_{key}"] = {
            "value": round(sum(values) / len(values), 4) if values else None,
            "count": len(values), "n": len(values), "ci95": [0.0, 0.0]}


def _print_table(console: Console, results: list[dict[str, Any]],
                 title: str = "Grounded-answer evaluation") -> None:
    table = Table(title=title, show_lines=False)
    table.add_column("metric")
    for result in results:
        table.add_column(result["name"], justify="right")
    extra = [m for m in results[0]["metrics"] if m not in TABLE_METRICS]
    for metric in TABLE_METRICS + extra:
        cells = []
        for result in results:
            m = result["metrics"].get(metric)
            if not m or m["value"] is None:
                cells.append("n/a")
                continue
            low, high = m["ci95"]
            cells.append(f"{m['value']:.3f} ({m['count']}/{m['n']}, {low:.2f}-{high:.2f})")
        table.add_row(metric, *cells)
    table.add_row("latency p50 / p95 ms", *(
        f"{r['_timing'].get('p50_ms', 0):.0f} / {r['_timing'].get('p95_ms', 0):.0f}" for r in results))
    console.print(table)


def _print_baseline(console: Console, err: Console, current: dict[str, Any], path: Path,
                    set_name: str = "") -> None:
    try:
        old = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        err.print(f"[yellow]Baseline {path} cannot be read: {exc}[/yellow]")
        return
    if set_name:
        old = old.get("sets", {}).get(set_name, {})
    configs = old.get("configs", [])
    previous = next((c for c in configs if c.get("name") == current["name"]),
                    configs[0] if configs else None)
    if previous is None:
        err.print(f"[yellow]Baseline {path} has no configurations.[/yellow]")
        return
    diff = compare(current, previous)
    table = Table(title=f"Against baseline {path} ({previous.get('name')})")
    for column in ("metric", "before", "now", "delta"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    for metric, d in diff["deltas"].items():
        sign = "+" if d["delta"] > 0 else ""
        table.add_row(metric, f"{d['before']:.3f}", f"{d['now']:.3f}", f"{sign}{d['delta']:.3f}")
    console.print(table)
    if diff["flipped"]:
        console.print("Cases that flipped:")
        for case in diff["flipped"]:
            console.print(f"  {case['id']}: {case['was']} -> {case['now']}"
                          + (f" (failing: {', '.join(case['failing_checks'])})"
                             if case["failing_checks"] else ""))
    else:
        console.print("No case flipped.")
