"""The extractive answerer: quotes the passages' own units, each marked with its citation."""

from __future__ import annotations

import re

import pytest

from assistant.answering import AnswerInput, Draft, ExtractiveAnswerer, make_answerer
from assistant.conversation import answer_items
from assistant.grounding import citation_markers, ungrounded_numbers
from assistant.settings import Settings

QUOTED = re.compile(r"^\s*(?:- )?(?P<text>.*\S) \[(?P<n>\d+)\]$")

QUESTIONS = [
    "What is the 75th percentile salary?",
    "What is the average salary?",
    "Which programming languages do I need?",
    "What does the career progression look like?",
    "How fast is demand for ML specialists growing?",
    "What soft skills matter for this role?",
    "What are the common challenges?",
    "Which cities pay the most?",
]


def draft_for(question: str, retriever, snapshot, settings: Settings, **extra) -> Draft:
    documents = retriever.invoke(question)
    return ExtractiveAnswerer(settings)(AnswerInput(
        question=question, query=question, passages=retriever.passages(documents, question),
        **extra))


def quoted_lines(answer: str) -> list[tuple[str, int]]:
    """(text, n) of every answer line that quotes a passage; headers are skipped."""
    out = []
    for line in answer.splitlines():
        if not line.strip() or (line.startswith("**") and line.rstrip().endswith("**")):
            continue
        match = QUOTED.match(line)
        assert match, f"answer line without a citation: {line!r}"
        out.append((match["text"], int(match["n"])))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("question", QUESTIONS)
def test_answer_quotes_only_its_cited_passages(question, retriever, snapshot, role_settings,
                                               role_lines):
    draft = draft_for(question, retriever, snapshot, role_settings)
    assert draft.answer and draft.citations
    assert [c.n for c in draft.citations] == list(range(1, len(draft.citations) + 1))
    assert set(citation_markers(draft.answer)) == {c.n for c in draft.citations}
    by_n = {c.n: c for c in draft.citations}
    for text, n in quoted_lines(draft.answer):  # the answerer adds no words of its own
        assert text in by_n[n].text, (text, by_n[n].text)
    evidence = [f"{c.section}\n{c.text}" for c in draft.citations]  # headers name the section
    assert ungrounded_numbers(draft.answer, evidence) == []
    for c in draft.citations:  # each citation points at real lines of its source
        assert c.source == "senior-machine-learning-scientist.txt"
        span = role_lines[c.line_start - 1:c.line_end]
        for line in c.text.splitlines():
            body = line.strip().removeprefix("- ")
            assert any(body in file_line for file_line in span), (body, c.line_start, c.line_end)
        assert f"**{c.section}**" in draft.answer


@pytest.mark.slow
def test_answer_to_a_percentile_question_quotes_the_figure(retriever, snapshot, role_settings):
    draft = draft_for("What is the 75th percentile salary?", retriever, snapshot, role_settings)
    assert "75th Percentile: $125,000" in answer_items(draft.answer)
    assert "Percentile Breakdown (ZipRecruiter data)" in draft.citations[0].section
    assert (draft.citations[0].line_start, draft.citations[0].line_end) == (151, 155)


@pytest.mark.slow
def test_focus_quotes_exactly_the_item_asked_about(retriever, snapshot, role_settings):
    item = "Strong problem-solving abilities and analytical thinking."
    draft = draft_for(item, retriever, snapshot, role_settings, focus=[item])
    assert answer_items(draft.answer) == [item]
    assert "Soft Skills" in draft.citations[0].section


@pytest.mark.slow
def test_a_labelled_group_is_quoted_whole(retriever, snapshot, role_settings):
    draft = draft_for("What does the career progression look like?", retriever, snapshot,
                      role_settings)
    items = answer_items(draft.answer)
    assert items[:3] == ["Entry-Level (0-3 years):", "Work on projects under guidance",
                         "Focus on data preprocessing, model training, basic algorithm development"]
    assert "  - Work on projects under guidance [1]" in draft.answer.splitlines()


@pytest.mark.slow
def test_max_answer_units_limits_a_flat_list(retriever, snapshot, role_settings):
    question = "What are the common challenges?"
    wide = draft_for(question, retriever, snapshot, role_settings)
    narrow = draft_for(question, retriever, snapshot,
                       role_settings.model_copy(update={"max_answer_units": 2}))
    # the cap, plus the section's best line when the cap would have cut it
    assert len(quoted_lines(narrow.answer)) <= 3 < len(quoted_lines(wide.answer))


@pytest.mark.slow
def test_a_specific_the_question_names_is_shown_not_only_cited(retriever, snapshot,
                                                               role_settings):
    question = "Which cities pay the most?"
    plain = draft_for(question, retriever, snapshot, role_settings)
    assert "Top Earners" not in plain.answer
    # a specific (here a stand-in test for a place or level) that only a lower-scoring line
    # of a retrieved passage mentions: that line is quoted too, under its own section, when
    # it scores within specific_line_margin of the best line quoted
    names = [lambda text: "top earners" in text.lower()]
    strict = role_settings.model_copy(update={"specific_line_margin": 0.0})
    assert draft_for(question, retriever, snapshot, strict, specifics=names).answer == \
        plain.answer
    loose = role_settings.model_copy(update={"specific_line_margin": 1.0})
    draft = draft_for(question, retriever, snapshot, loose, specifics=names)
    line = next(line for line in draft.answer.splitlines() if "Top Earners: $150,500" in line)
    n = int(re.search(r"\[(\d+)\]$", line).group(1))
    assert "Percentile Breakdown" in draft.citations[n - 1].section
    assert f"**{draft.citations[n - 1].section}**" in draft.answer
    assert all(line in draft.answer for line in plain.answer.splitlines())  # nothing lost
    # a specific no line mentions adds nothing
    none = draft_for(question, retriever, snapshot, loose,
                     specifics=[lambda text: "antarctica" in text.lower()])
    assert none.answer == plain.answer


def test_no_passages_no_answer():
    draft = ExtractiveAnswerer(Settings())(AnswerInput("q", "q", []))
    assert draft.answer == "" and draft.citations == []


def test_answerers_are_named_by_string():
    assert isinstance(make_answerer(Settings()), ExtractiveAnswerer)
    with pytest.raises(ValueError, match="Unknown answerer 'llm-nope'.*extractive"):
        make_answerer(Settings(answerer="llm-nope"))


def test_a_rare_question_word_a_line_shares_weighs_more_than_a_common_one():
    """Two lines as close to the question by embedding: the one sharing the question's rare
    word ("dc") is quoted before the one sharing a word every section uses ("job")."""
    from langchain_core.documents import Document

    from assistant.types import Passage, PassageUnit

    meta = {"chunk_id": "c1", "source": "role.md", "section": "Role > Basic information",
            "kind": "sentence", "line": 1}
    document = Document(page_content="", metadata={**meta, "score": 1.0, "relevance": 0.5})
    lines = ["Job type: full time, this job is permanent", "Location: Washington, DC or remote"]
    passage = Passage(document, [PassageUnit(text, {**meta, "line": i}, 0.3)
                                 for i, text in enumerate(lines)])
    settings = Settings(max_answer_units=1, whole_passage_units=1)

    def first_line(weights: dict[str, float]) -> str:
        draft = ExtractiveAnswerer(settings)(AnswerInput(
            "is this job dc only?", "is this job dc only?", [passage], word_weights=weights))
        return quoted_lines(draft.answer)[0][0]

    assert first_line({}) == lines[0]  # one shared word each, weighing the same: a tie
    assert first_line({"dc": 3.0, "job": 0.3}) == lines[1]


def test_the_best_line_of_a_section_quoted_whole_is_never_cut():
    """A section quoted as a whole (its title matches the question, "an M6") keeps to the
    cap by its first lines; the line that answers best ("reports to") is quoted too, though
    it comes after the cap."""
    from langchain_core.documents import Document

    from assistant.types import Passage, PassageUnit

    meta = {"chunk_id": "c1", "source": "eng.md", "section": "Levels > M6", "kind": "bullet"}
    document = Document(page_content="", metadata={**meta, "score": 1.0, "relevance": 0.5})
    lines = [f"Leads area number {i}" for i in range(6)] + ["Reports to a VP or the CEO"]
    units = [PassageUnit("M6", {**meta, "kind": "title", "line": 0}, 0.6)]
    units += [PassageUnit(text, {**meta, "line": i + 1}, 0.55 if "Reports" in text else 0.3)
              for i, text in enumerate(lines)]
    question = "who does an m6 report to"
    capped = Settings(max_answer_units=4, whole_passage_units=2)
    draft = ExtractiveAnswerer(capped)(AnswerInput(question, question, [Passage(document, units)]))
    quoted = [text for text, _ in quoted_lines(draft.answer)]
    assert quoted[:4] == lines[:4]  # the section's own lines, to the cap
    assert quoted[-1] == lines[-1] and len(quoted) == 5


def test_a_label_quoted_without_any_of_its_items_is_left_out():
    """The cap cuts a group after its label: "After the closing date:" without the lines it
    introduces says nothing and is not quoted. A label that holds a sentence of its own
    ("There are seven levels. These categories are:") still is."""
    from langchain_core.documents import Document

    from assistant.types import Passage, PassageUnit

    meta = {"chunk_id": "c1", "source": "role.md", "section": "Role > Details", "kind": "bullet"}
    document = Document(page_content="", metadata={**meta, "score": 1.0, "relevance": 0.5})
    where = "Location: anywhere in the US, fully remote"

    def quoted(label: str) -> list[str]:
        units = [PassageUnit(where, {**meta, "line": 1}, 0.6),
                 PassageUnit(label, {**meta, "kind": "label", "line": 2}, 0.59)]
        units += [PassageUnit(text, {**meta, "label": label, "line": 3 + i}, 0.59)
                  for i, text in enumerate(["We review every application", "We call you"])]
        question = "where would i be based?"
        capped = Settings(max_answer_units=2, group_overflow=0, whole_passage_units=1)
        draft = ExtractiveAnswerer(capped)(AnswerInput(question, question,
                                                       [Passage(document, units)]))
        return [text for text, _ in quoted_lines(draft.answer)]

    assert quoted("After the closing date:") == [where]
    label = "There are seven levels. These categories are:"
    assert quoted(label) == [where, label]


def test_a_line_giving_the_value_asked_for_is_quoted():
    """"what's the pay?" asks for an amount: two lines about locality pay share the word
    "pay" and score higher, but the answer also quotes the passage's line that gives one (the
    figure check would refuse an answer without it). Without the test, only the top lines."""
    from langchain_core.documents import Document

    from assistant.grounding import figure_line
    from assistant.types import Passage, PassageUnit

    meta = {"chunk_id": "c1", "source": "role.md", "section": "Role > Basic information",
            "kind": "sentence"}
    document = Document(page_content="", metadata={**meta, "score": 1.0, "relevance": 0.5})
    lines = ["Job title: Innovation Specialist",
             "Salary range: base salary GS-15, $103,672 to $134,776",
             "Total compensation will include locality pay based on your duty location",
             "For locality pay details, please visit the pay tables"]
    scores = [0.2, 0.39, 0.45, 0.38]
    passage = Passage(document, [PassageUnit(text, {**meta, "line": i}, score)
                                 for i, (text, score) in enumerate(zip(lines, scores, strict=True))])
    question = "whats the pay"
    settings = Settings(max_answer_units=2, whole_passage_units=1)
    gives = figure_line(question)
    assert gives is not None

    def quoted(asked: list) -> list[str]:
        draft = ExtractiveAnswerer(settings)(AnswerInput(question, question, [passage],
                                                         asked=asked))
        return [text for text, _ in quoted_lines(draft.answer)]

    assert quoted([]) == [lines[2], lines[3]]
    assert quoted([gives]) == [lines[1], lines[2], lines[3]]
    # a passage with no such line is quoted as it was: the check then refuses it
    assert quoted([lambda line: "€" in line]) == [lines[2], lines[3]]


def test_a_sub_section_name_is_quoted_only_from_a_passage_that_lists_them():
    """An overview that is its list of sub-sections ("Levels": IC1, IC2, IC3) is that list,
    whatever the question; a passage of its own lines that also names one sub-section
    ("Basic information" with a "Salary range" under it) does not put that name into an
    answer about its closing date."""
    from langchain_core.documents import Document

    from assistant.types import Passage, PassageUnit

    meta = {"chunk_id": "c1", "source": "role.md", "section": "Role > Basic information",
            "kind": "sentence"}
    document = Document(page_content="", metadata={**meta, "score": 1.0, "relevance": 0.5})
    facts = ["Job title: Innovation Specialist", "Closing date: Friday 8/4/17 9:00PM EST",
             "Location: Washington, DC", "Work schedule: Full time"]
    units = [PassageUnit(text, {**meta, "line": i}, 0.6 if "Closing" in text else 0.2)
             for i, text in enumerate(facts)]
    units.append(PassageUnit("Salary range", {**meta, "kind": "item", "line": 9}, 0.1))
    question = "when does the posting close?"
    settings = Settings(max_answer_units=3, whole_passage_units=1)
    draft = ExtractiveAnswerer(settings)(AnswerInput(question, question,
                                                     [Passage(document, units)]))
    assert [text for text, _ in quoted_lines(draft.answer)] == [facts[1]]

    levels = [PassageUnit("There are three levels.", {**meta, "line": 0}, 0.5)]
    levels += [PassageUnit(f"IC{n}", {**meta, "kind": "item", "line": n}, 0.2) for n in (1, 2, 3)]
    draft = ExtractiveAnswerer(settings)(AnswerInput("what levels are there?", "levels",
                                                     [Passage(document, levels)]))
    assert [text for text, _ in quoted_lines(draft.answer)][-3:] == ["IC1", "IC2", "IC3"]


def test_a_level_compared_is_quoted_from_the_section_its_heading_names():
    """"ic3 vs ic4?": the IC4 section's lines never say "IC4" (its heading does). The answer
    quotes IC3 and also IC4's best lines, not IC3 alone."""
    from langchain_core.documents import Document

    from assistant.types import Passage, PassageUnit

    def passage(level: str, lines: list[str], score: float) -> Passage:
        meta = {"chunk_id": level, "source": "eng.md", "section": f"Framework > {level}",
                "kind": "bullet"}
        document = Document(page_content="", metadata={**meta, "score": 1.0, "relevance": 0.5})
        return Passage(document, [PassageUnit(text, {**meta, "line": i}, score)
                                  for i, text in enumerate(lines)])

    ic3 = ["Delivers open-ended projects", "Mentors junior team members"]
    ic4 = ["Delivers projects with high technical risk", "Translates goals for the business"]
    passages = [passage("IC3", ic3, 0.6), passage("IC4", ic4, 0.5)]
    names = [lambda text, code=code: code in text.lower() for code in ("ic3", "ic4")]
    settings = Settings(secondary_margin=0.0)
    question = "ic3 vs ic4?"
    draft = ExtractiveAnswerer(settings)(AnswerInput(question, question, passages,
                                                     specifics=names))
    assert "**Framework > IC4**" in draft.answer
    assert [text for text, _ in quoted_lines(draft.answer)] == ic3 + ic4
    alone = ExtractiveAnswerer(settings)(AnswerInput(question, question, passages))
    assert "IC4" not in alone.answer  # the heading's specific is what brings it in


def test_the_record_line_labelled_with_what_is_asked_is_quoted():
    """"what's the grade?": "Series & Grade: 0301-15" embeds poorly (a label and a number)
    and a sentence that merely uses the word scores higher by embedding; the line whose
    label holds the question's word is the record asked about."""
    from langchain_core.documents import Document

    from assistant.types import Passage, PassageUnit

    meta = {"chunk_id": "c1", "source": "role.md", "section": "Role > Basic information",
            "kind": "sentence"}
    document = Document(page_content="", metadata={**meta, "score": 1.0, "relevance": 0.5})
    lines = ["Series & Grade: 0301-15",
             "New employees usually start at step 1 of the grade they are selected for",
             "Work schedule: Full time"]
    scores = [0.1, 0.2, 0.1]
    passage = Passage(document, [PassageUnit(text, {**meta, "line": i}, score)
                                 for i, (text, score) in enumerate(zip(lines, scores,
                                                                       strict=True))])
    question = "whats the grade"

    def first(settings: Settings, weights: dict[str, float]) -> str:
        draft = ExtractiveAnswerer(settings)(AnswerInput(question, question, [passage],
                                                         word_weights=weights))
        return quoted_lines(draft.answer)[0][0]

    capped = {"max_answer_units": 1, "whole_passage_units": 1}
    rare = {"grade": 1.4, "what": 0.6}  # "grade" rarer than the question's average word
    assert first(Settings(**capped), rare) == lines[0]
    assert first(Settings(**capped, field_label_bonus=0.0), rare) == lines[1]
    # a label word that is not what the question is about ("deadline to apply?": not "Who
    # may apply") names nothing
    assert first(Settings(**capped), {"grade": 0.8, "what": 1.2}) == lines[1]
