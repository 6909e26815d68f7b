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
                 "no_excluded", "no_errors"]


def config_settings(base: Settings, overrides: dict[str, Any]) -> Settings:
    """Settings for one configuration; a different index shape gets its own index folder."""
    merged = base.model_dump() | overrides
    settings = Settings(**merged)
    if settings.fingerprint() != base.fingerprint() and "index_dir" not in overrides:
        key = hashlib.sha256(json.dumps(settings.fingerprint(), sort_keys=True).encode()).hexdigest()
        settings = settings.model_copy(update={"index_dir": base.index_dir / "variants" / key[:12]})
    return settings


def run_eval(
    base: Settings, datasets: list[Path], report: Path | None, html: Path | None,
    baseline: Path | None, configs: list[str], thresholds: Path | None, judge: bool,
    console: Console, err: Console,
) -> int:
    """Returns the exit code: 0 pass, 1 a threshold failed, 2 unusable input."""
    from assistant.core import Assistant

    try:
        cases = [case for path in datasets for case in load_dataset(path)]
        parsed = [parse_config(spec) for spec in configs]
        bounds = load_thresholds(thresholds) if thresholds else {}
    except (DatasetError, ValueError, OSError) as exc:
        err.print(f"[red]{exc}[/red]")
        return 2
    names = [name for name, _ in parsed]
    if len(set(names)) != len(names):
        err.print("[red]Each --config needs its own NAME.[/red]")
        return 2

    results = []
    shared_embeddings = None
    for name, overrides in parsed:
        try:
            settings = config_settings(base, overrides)
        except Exception as exc:  # noqa: BLE001 - pydantic explains what is wrong
            err.print(f"[red]--config {name}: {exc}[/red]")
            return 2
        try:
            bot = Assistant.from_settings(settings, embeddings=shared_embeddings)
        except AssistantError as exc:
            err.print(f"[red]{name}: {exc.message}[/red]")
            return 2
        if settings.embedding_model == base.embedding_model:
            shared_embeddings = bot.embeddings
        with console.status(f"Running {len(cases)} cases with config '{name}'..."):
            result = run_config(name, bot.ask, cases)
        result["settings"] = overrides
        if judge:
            _judge(result, settings, err)
        results.append(result)

    threshold_failures = check_thresholds(results[0]["metrics"], bounds,
                                          {k: v for k, v in results[0]["_timing"].items()})
    results[0]["threshold_failures"] = threshold_failures
    document = {
        "datasets": [str(p) for p in datasets],
        "configs": [{k: v for k, v in r.items() if k != "_timing"} for r in results],
        "timing": {r["name"]: r["_timing"] for r in results},
    }
    _print_table(console, results)
    if baseline is not None:
        _print_baseline(console, err, results[0], baseline)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
        console.print(f"JSON report: {report}")
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(document), encoding="utf-8")
        console.print(f"HTML report: {html}")
    if threshold_failures:
        err.print(f"[red]Below thresholds ({thresholds}) for config '{results[0]['name']}':[/red]")
        for failure in threshold_failures:
            err.print(f"  - {failure}")
        return 1
    if bounds:
        console.print(f"All thresholds in {thresholds} hold for config '{results[0]['name']}'.")
    return 0


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


def _print_table(console: Console, results: list[dict[str, Any]]) -> None:
    table = Table(title="Grounded-answer evaluation", show_lines=False)
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


def _print_baseline(console: Console, err: Console, current: dict[str, Any], path: Path) -> None:
    try:
        old = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        err.print(f"[yellow]Baseline {path} cannot be read: {exc}[/yellow]")
        return
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
