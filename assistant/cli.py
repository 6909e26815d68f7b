"""Command line: `assistant index | ask | serve | eval | report`."""

from __future__ import annotations

import json
import logging
import sys
import unicodedata
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape

from assistant.settings import Settings
from assistant.types import AssistantError

app = typer.Typer(
    help="Grounded, cited answers about open roles from their own documents, offline.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:  # noqa: BLE001 - show configuration errors without a traceback
        err.print(f"[red]Invalid settings:[/red] {exc}")
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]{message}[/red]")
    raise typer.Exit(code)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False) -> None:
    """Configure logging for every command."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


CorpusOpt = Annotated[Path | None, typer.Option(help="Corpus folder (default: corpus/).")]
IndexOpt = Annotated[Path | None, typer.Option(help="Index folder (default: index/).")]


@app.command()
def index(
    corpus_dir: CorpusOpt = None,
    index_dir: IndexOpt = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if nothing changed.")] = False,
) -> None:
    """Build or update the Chroma index from the corpus (unchanged files are not re-embedded)."""
    from assistant.index import build_index

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir)
    if not logging.getLogger().isEnabledFor(logging.INFO):  # not --verbose: the report below
        logging.getLogger("assistant.loading").setLevel(logging.ERROR)  # names refused files
    try:
        report = build_index(settings, progress=sys.stderr.isatty(), force=force)
    except AssistantError as exc:
        _fail(exc.message)
        return
    for source, message in report.errors.items():
        err.print(f"[yellow]warning:[/yellow] {escape(message)} (kept what was indexed from "
                  f"{escape(source)} before, if anything)")
    for message in report.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(message)}")
    for message in report.skipped.values():
        err.print(f"[yellow]not indexed:[/yellow] {escape(message)}")
    if report.up_to_date:
        console.print(f"Index is up to date: {report.files} file(s), {report.chunks} chunks, "
                      f"build {report.build} ({report.seconds:.2f}s, nothing re-embedded).")
    else:
        console.print(f"Indexed {report.files} file(s) into {report.chunks} chunks: "
                      f"{report.embedded} texts embedded, {report.reused} reused; build "
                      f"{report.build} is now in service ({report.seconds:.1f}s).")
        for source in report.removed_sources:
            console.print(f"Removed {source} (no longer in the corpus).")
    if report.errors or report.skipped:
        raise typer.Exit(1)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question about the role.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the full reply as JSON.")] = False,
    history: Annotated[Path | None, typer.Option(
        help="JSON file with earlier turns: [{\"role\": \"user\", \"content\": \"...\"}, ...]")] = None,
    scope: Annotated[list[str] | None, typer.Option(
        help="Answer from this role's document only (file name or title; repeat for several).")]
    = None,
    corpus_dir: CorpusOpt = None,
    index_dir: IndexOpt = None,
) -> None:
    """Answer one question from the documents, with citations."""
    from assistant.core import Assistant

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir)
    turns = None
    if history is not None:
        try:
            turns = json.loads(history.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            _fail(f"Cannot read history file {history}: {exc}")
    try:
        bot = Assistant(settings)
        bot.clean_question(question)  # a bad question is told at once, before any index work
        reply = bot.open().ask(question, history=turns, scope=scope or None)
    except AssistantError as exc:
        _fail(exc.message)
        return
    if as_json:
        _print_json(reply.to_dict())
        return
    console.print(Markdown(_printable(reply.answer)))
    if reply.citations:
        console.print("\n[bold]Sources[/bold]")
        for c in reply.citations:
            where = "page" if c.locator == "page" else "lines"
            span = str(c.line_start) if c.line_start == c.line_end else f"{c.line_start}-{c.line_end}"
            console.print(_printable(f"  [{c.n}] {c.section} ({c.source}, {where} {span})"),
                          markup=False)
    if reply.backend != "extractive":
        removed = f"; {len(reply.removed)} unsupported sentence(s) removed" if reply.removed else ""
        console.print(f"\n[dim]Written by {reply.backend}, every sentence checked against its "
                      f"sources{removed}.[/dim]")
    if reply.note:
        console.print(f"\n[dim]{reply.note}[/dim]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
    corpus_dir: CorpusOpt = None,
    index_dir: IndexOpt = None,
) -> None:
    """Start the chat server (builds the index first if there is none)."""
    from assistant.server import run

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir)
    try:
        run(settings, host=host, port=port)
    except AssistantError as exc:
        _fail(exc.message)


@app.command("eval")
def eval_(
    dataset: Annotated[list[Path] | None, typer.Option(
        help="Your own JSONL question file(s), run on --corpus-dir (default corpus/); repeat "
        "for several. Without it, the named sets of the thresholds file are run.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Run only these sets of the thresholds file (repeat; default: all).")] = None,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    baseline: Annotated[Path | None, typer.Option(
        help="An earlier JSON report: print metric deltas and the cases that flipped.")] = None,
    config: Annotated[list[str] | None, typer.Option(
        help="NAME=key=value,key=value or NAME=file.toml; repeat to compare side by side "
        "(default: one config named 'default').")] = None,
    thresholds: Annotated[Path | None, typer.Option(
        help="Thresholds TOML: [sets.NAME] (corpus, datasets, metrics) and [metrics] for "
        "--dataset runs (default: evals/thresholds.toml).")] = None,
    no_thresholds: Annotated[bool, typer.Option(help="Report only; never fail.")] = False,
    judge: Annotated[bool, typer.Option(help="Also score answers with the configured LLM judge.")] = False,
    corpus_dir: CorpusOpt = None,
    index_dir: IndexOpt = None,
) -> None:
    """Run grounded-answer tests on question sets and report (exit 1 below a threshold)."""
    from assistant.eval_runner import run_eval, run_sets
    from assistant.evaluation import load_sets

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir)
    path = thresholds or Path("evals/thresholds.toml")
    configs = config or ["default="]
    if dataset:
        code = run_eval(
            settings, datasets=dataset, report=report, html=html, baseline=baseline,
            configs=configs, thresholds=None if no_thresholds else path if path.is_file()
            else None, judge=judge, console=console, err=err)
        raise typer.Exit(code)
    try:
        sets = load_sets(path)
    except (OSError, ValueError) as exc:
        _fail(f"Cannot read the evaluation sets in {path}: {exc}", 2)
        return
    if set_:
        unknown = sorted(set(set_) - {s.name for s in sets})
        if unknown:
            _fail(f"No set named {', '.join(unknown)} in {path}; there are: "
                  f"{', '.join(s.name for s in sets)}", 2)
        sets = [s for s in sets if s.name in set_]
    if not sets:
        _fail(f"{path} defines no [sets.NAME]; pass --dataset to run your own questions.", 2)
    code = run_sets(settings, sets, report=report, html=html, baseline=baseline, configs=configs,
                    judge=judge, console=console, err=err, thresholds=path,
                    gate=not no_thresholds)
    raise typer.Exit(code)


@app.command()
def probe(
    backend: Annotated[list[str] | None, typer.Option(
        help="Answerer to attack (repeat): extractive, llamacpp, openai (default: all three; "
        "openai is the shipped GGUF served by llama_cpp.server on loopback unless "
        "--llm-base-url is given).")] = None,
    http: Annotated[list[str] | None, typer.Option(
        help="Also attack these backends over HTTP: /api/ask, /api/ask/stream and "
        "/v1/chat/completions of the real server (default: extractive; 'none': no HTTP).")]
    = None,
    attacks: Annotated[Path, typer.Option(help="Attacks (JSONL).")] =
    Path("evals/probes/attacks.jsonl"),
    corpus_dir: Annotated[Path, typer.Option(
        help="The probe corpus: an ordinary role document and a poisoned one.")] =
    Path("evals/probes/corpus"),
    index_dir: Annotated[Path, typer.Option(
        help="Index folder of the probe corpus (also holds the canary prompts).")] =
    Path("index/probes"),
    llm_base_url: Annotated[str | None, typer.Option(
        help="An OpenAI-compatible server for the openai backend instead of starting one.")]
    = None,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
) -> None:
    """Attack every answerer with the security probes; exit 1 if any attack succeeds."""
    from assistant.probes import load_attacks, run_probes, table

    backends = backend or ["extractive", "llamacpp", "openai"]
    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir)
    try:
        items = load_attacks(attacks)
    except (OSError, ValueError) as exc:
        _fail(f"Cannot read the attacks in {attacks}: {exc}", 2)
        return

    def progress(outcome: Any) -> None:
        if outcome.success:
            found = ", ".join(f"{f.detector} in {f.surface}" for f in outcome.findings)
            err.print(f"[red]SUCCESS[/red] {outcome.backend} {outcome.path} "
                      f"{escape(outcome.attack)}: {escape(found)}")

    try:
        run = run_probes(settings, items, backends, http=["extractive"] if http is None else http,
                         llm_base_url=llm_base_url, progress=progress)
    except AssistantError as exc:
        _fail(exc.message)
        return
    console.print(f"{run.attacks} attacks; successful attacks per category (successes/attacks):",
                  markup=False)
    console.print(table(run.summary), markup=False, highlight=False)
    console.print("seconds: " + ", ".join(f"{k} {v:g}" for k, v in run.seconds.items()),
                  markup=False)
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(run.to_dict(), indent=2, ensure_ascii=False), "utf-8")
    raise typer.Exit(1 if any(o.success for o in run.outcomes) else 0)


@app.command()
def report(
    limit: Annotated[int, typer.Option(help="Most questions to list (0: all).")] = 20,
    since_days: Annotated[float | None, typer.Option(
        "--since-days", help="Only questions asked in the last N days.")] = None,
    disliked: Annotated[bool, typer.Option(
        help="Also count questions whose answer got a thumbs down.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: Annotated[Path | None, typer.Option(
        help="Feedback database (default: the feedback_db setting, var/feedback.sqlite3).")] = None,
) -> None:
    """What candidates asked that the documents could not answer, most frequent first."""
    import time

    from assistant.feedback import FeedbackStore

    settings = _settings(feedback_db=db)
    path = settings.feedback_db
    if not path.is_file():
        if as_json:
            _print_json({"database": str(path), "counts": {}, "gaps": []})
        else:
            console.print(f"No feedback recorded yet ({path} does not exist). It fills up while "
                          "`assistant serve` runs.")
        return
    store = FeedbackStore(path)
    since = time.time() - since_days * 86400 if since_days else None
    gaps = store.gaps(since=since, limit=limit or None, include_disliked=disliked)
    counts = store.counts(since=since)
    if as_json:
        _print_json({"database": str(path), "counts": counts,
                     "gaps": [g.to_dict() for g in gaps]})
        return
    from rich.table import Table
    from rich.text import Text

    period = f"in the last {since_days:g} days" if since_days else "so far"
    console.print(f"Feedback {period}: {counts['up']} thumbs up, {counts['down']} thumbs down, "
                  f"{counts['abstained']} unanswered questions.")
    if not gaps:
        console.print("Nothing unanswered: every question found its answer in the documents.")
        return
    table = Table(title="Questions the documents could not answer (most frequent first)",
                  title_justify="left")
    table.add_column("Asked", justify="right")
    table.add_column("Question (most common wording)")
    table.add_column("Why")
    table.add_column("Last asked")
    for gap in gaps:
        why = ", ".join(f"{reason} ({n})" if len(gap.reasons) > 1 else reason
                        for reason, n in gap.reasons.items())
        cell = Text(_printable(gap.question))  # stored text is data, never markup
        if len(gap.phrasings) > 1:
            cell.append(f"\n+{len(gap.phrasings) - 1} other wording(s)", style="dim")
        table.add_row(str(gap.count), cell, Text(_printable(why)),
                      time.strftime("%Y-%m-%d %H:%M", time.localtime(gap.last_asked)))
    console.print(table)
    console.print("Add a document that answers these to the corpus folder, then run "
                  "`assistant index`.")


def _unprintable(ch: str) -> bool:
    """A character a terminal acts on or hides rather than shows: C0 and C1 controls (escape
    sequences start with them), format characters (bidirectional overrides that reorder what
    is shown, zero-width and tag characters that hide text) and lone surrogates."""
    return ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs")


def _printable(text: str) -> str:
    """Text from the feedback database (candidates' words) or the documents, for a terminal:
    every character `_unprintable` names is dropped."""
    return "".join(ch for ch in text if not _unprintable(ch))


def _print_json(data: Any) -> None:
    """`data` as JSON for a terminal or a program: the same data, with every character
    `_unprintable` names written as a \\u escape instead of raw."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    text = "".join(json.dumps(ch)[1:-1] if _unprintable(ch) else ch for ch in text)
    console.print(text, markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    app()
