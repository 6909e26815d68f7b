"""A self-contained HTML page for an evaluation report: summary, chart, failed cases."""

from __future__ import annotations

import html
import json
from typing import Any

CHART_METRICS = ["hit@1", "hit@5", "mrr@5", "fact_recall", "abstention_recall",
                 "adversarial_pass", "sentence_support", "numbers_grounded", "citation_validity"]
COLOURS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626"]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(metric: dict[str, Any]) -> str:
    if metric.get("value") is None:
        return "n/a"
    low, high = metric.get("ci95", [0, 0])
    return (f"{metric['value']:.3f} <small>({metric['count']}/{metric['n']}; "
            f"95% CI {low:.2f}–{high:.2f})</small>")


def _chart(configs: list[dict[str, Any]]) -> str:
    """Grouped horizontal bars, one group per metric, one bar per configuration."""
    bar, gap, label_w, width = 14, 10, 170, 420
    rows = []
    y = 10
    for metric in CHART_METRICS:
        rows.append(f'<text x="0" y="{y + bar}" font-size="12">{_e(metric)}</text>')
        for i, config in enumerate(configs):
            value = config["metrics"].get(metric, {}).get("value")
            if value is None:
                continue
            w = max(1, int(width * value))
            colour = COLOURS[i % len(COLOURS)]
            rows.append(f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar - 2}" '
                        f'fill="{colour}"><title>{_e(config["name"])}: {value:.3f}</title></rect>')
            rows.append(f'<text x="{label_w + w + 4}" y="{y + bar - 3}" font-size="11">'
                        f'{value:.2f}</text>')
            y += bar
        y += gap
    legend = "".join(
        f'<span class="key" style="background:{COLOURS[i % len(COLOURS)]}"></span>{_e(c["name"])} '
        for i, c in enumerate(configs))
    return (f'<div class="legend">{legend}</div><svg role="img" aria-label="metrics chart" '
            f'width="{label_w + width + 60}" height="{y}">{"".join(rows)}</svg>')


def _case(case: dict[str, Any]) -> str:
    failing = [k for k, v in case.get("checks", {}).items() if not v]
    parts = [f"<p><b>Question:</b> {_e(case['question'])}</p>"]
    if case.get("history"):
        parts.append("<p><b>History:</b></p><ol>" + "".join(
            f"<li>{_e(h)}</li>" for h in case["history"]) + "</ol>")
    if "error" in case:
        parts.append(f"<p class='bad'><b>Error:</b> {_e(case['error'])}</p>")
    else:
        parts.append(f"<p><b>Abstained:</b> {case['abstained']} {_e(case.get('reason', ''))}</p>")
        parts.append(f"<pre>{_e(case['answer'])}</pre>")
        for key, title in (("missing_facts", "Missing facts"), ("excluded_found", "Excluded text found"),
                           ("unsupported_sentences", "Unsupported sentences"),
                           ("ungrounded_numbers", "Numbers not in a cited passage")):
            if case.get(key):
                detail = _e(json.dumps(case[key], ensure_ascii=False))
                parts.append(f"<p class='bad'><b>{title}:</b> {detail}</p>")
        rows = "".join(
            f"<tr><td>{r['rank']}</td><td>{_e(r['section'])}</td><td>{r['score']:.3f}</td>"
            f"<td>{r['relevance']:.3f}</td><td>{'✔' if r['hit'] else ''}</td></tr>"
            for r in case.get("retrieved", []))
        parts.append("<table><tr><th>rank</th><th>retrieved section</th><th>score</th>"
                     f"<th>relevance</th><th>evidence</th></tr>{rows}</table>")
    return (f"<details open><summary><b>{_e(case['id'])}</b> ({_e(case['kind'])}) failed: "
            f"{_e(', '.join(failing))}</summary>{''.join(parts)}</details>")


def render_html(report: dict[str, Any]) -> str:
    """The whole report as one HTML page (no scripts, no external resources).

    A report of named sets (`assistant eval` on evals/thresholds.toml) has one part per set.
    """
    if "sets" in report:
        parts = "".join(_part(part, f"Set: {name}", "h2")
                        for name, part in report["sets"].items())
    else:
        parts = _part(report, "", "h2")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation report</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #111; }}
table {{ border-collapse: collapse; margin: .5rem 0 1rem; }}
td, th {{ border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f5; }} small {{ color: #555; }} .bad {{ color: #b91c1c; }}
pre {{ background: #f8fafc; padding: .6rem; white-space: pre-wrap; border: 1px solid #e5e7eb; }}
details {{ border: 1px solid #e5e7eb; border-radius: 6px; padding: .4rem .7rem; margin: .4rem 0; }}
.legend {{ margin: .5rem 0; }} .key {{ display: inline-block; width: 12px; height: 12px;
margin: 0 4px 0 12px; vertical-align: middle; }}
</style></head><body>
<h1>Grounded-answer evaluation</h1>
{parts}
</body></html>
"""


def _part(report: dict[str, Any], heading: str, tag: str) -> str:
    """One run's metrics table, chart and failed cases."""
    configs = report["configs"]
    names = [c["name"] for c in configs]
    metrics = list(configs[0]["metrics"]) if configs else []
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    body = "".join(
        f"<tr><td>{_e(m)}</td>" + "".join(f"<td>{_fmt(c['metrics'][m])}</td>" for c in configs)
        + "</tr>" for m in metrics)
    timing = report.get("timing", {})
    latency = "".join(
        f"<tr><td>latency p50 / p95 (ms)</td><td colspan='{len(names)}'>" + " · ".join(
            f"{_e(n)}: {timing.get(n, {}).get('p50_ms', 'n/a')} / {timing.get(n, {}).get('p95_ms', 'n/a')}"
            for n in names) + "</td></tr>" for _ in [0])
    failures = []
    for config in configs:
        failed = [c for c in config["cases"] if not c.get("passed")]
        verdict = config.get("threshold_failures", [])
        failures.append(
            f"<h3>{_e(config['name'])}: {len(failed)} of {len(config['cases'])} cases failed</h3>"
            + ("<ul class='bad'>" + "".join(f"<li>{_e(v)}</li>" for v in verdict) + "</ul>"
               if verdict else "")
            + "".join(_case(c) for c in failed))
    datasets = ", ".join(_e(d) for d in report.get("datasets", []))
    title = f"<{tag}>{_e(heading)}</{tag}>" if heading else ""
    return (f"{title}<p>Datasets: {datasets}</p>"
            f"<table><tr><th>metric</th>{head}</tr>{body}{latency}</table>"
            f"{_chart(configs)}{''.join(failures)}")

