"""HR vocabulary: abbreviations read as words, and specifics found in any capitalisation."""

from __future__ import annotations

import pytest

from assistant.vocabulary import Specific, covered, load_vocabulary


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


@pytest.mark.parametrize(("question", "expected"), [
    ("how many yoe do i need", "how many years of experience do i need"),
    ("is it wfh?", "is it remote work from home?"),
    ("whats the tc for a sr swe", "whats the total compensation for a senior software engineer"),
    ("do u sponsor h1b", "do you sponsor visa sponsorship"),
    # "us" is a word, not the plural of the abbreviation "u"
    ("is remote work in the us ok", "is remote work in the us ok"),
    # "tech" is written out only in the job titles it shortens
    ("what does the tech lead do", "what does the technical lead do"),
    ("whats the tech like", "whats the tech like"),
    ("whats the career ladder for account execs",
     "whats the career levels for account executives"),
])
def test_abbreviations_are_written_out(vocab, question, expected):
    assert vocab.expand(question, frozenset()) == expected


def test_an_abbreviation_the_documents_use_keeps_their_meaning(vocab):
    assert vocab.expand("what does a pm do", frozenset({"pm"})) == "what does a pm do"
    assert vocab.expand("what does a pm do", frozenset()) == "what does a product manager do"


@pytest.mark.parametrize(("question", "found"), [
    ("whats the salary in berlin", [("place", "berlin")]),
    ("What's the salary in Berlin?", [("place", "Berlin")]),
    ("pay in new york vs san francisco?", [("place", "new york"), ("place", "san francisco")]),
    ("does google pay more for this", [("employer", "google")]),
    ("whats the 90th percentile", [("percentile", "90th percentile")]),
    ("how much did it pay in 2021", [("year", "2021")]),
    ("is there a 401k match", [("benefit", "401k")]),
    ("what does a junior make", [("seniority", "junior")]),
    ("how does ic3 compare with l5", [("level", "ic3"), ("level", "l5")]),
    ("do ic2s answer tickets alone? what do GS-13s make", [("level", "ic2"), ("level", "GS-13")]),
    ("I live in Nice, can I apply?", [("place", "Nice")]),
    ("Will Kubernetes be used?", [("tool", "Kubernetes")]),
    ("what ticketing tool do u use, zendesk?", [("tool", "zendesk")]),
    ("do i need c++ or node.js", [("tool", "c++"), ("tool", "node.js")]),
    ("Can I work Part-Time?", [("arrangement", "Part-Time")]),
])
def test_specifics_are_found_in_any_case(vocab, question, found):
    assert [(s.kind, s.text) for s in vocab.specifics(question)] == found


@pytest.mark.parametrize("question", [
    "Is the team nice?",
    "experience in mobile development needed?",
    "what does the role pay?",
    "Salary matters to me and I ask about ML.",
    "is shift work in the us ok",  # "us" is not the US
    "will i go to meetings and sketch ideas in a notion of teams?",
])
def test_everyday_words_are_not_specifics(vocab, question):
    assert vocab.specifics(question) == []


def test_covered_looks_for_the_phrase_or_all_its_stems():
    passages = ["Geographic Variations\n- Santa Clara, CA: $180,000", "IC3 engineers mentor"]
    assert covered(Specific("place", "santa clara", "santa clara"), passages)
    assert covered(Specific("level", "IC3", "ic3"), passages)
    assert not covered(Specific("place", "berlin", "berlin"), passages)
    assert not covered(Specific("percentile", "90th", "90th"), passages)


@pytest.mark.parametrize(("question", "value", "asks"), [
    ("deadline to apply?", "Friday 8/4/17 9:00PM EST", True),
    ("when does the posting close", "Thursday, October 26 - Friday, November 10", True),
    ("how much does the job pay?", "Base salary GS-15: $103,672 to $134,776", True),
    ("whats the salary range", "between 120k and 150k", True),
    ("how long until i can get promoted", "at least one quarter of high performance", True),
    ("what year did the team start", "The team was founded in 2014", True),
    ("when would i start if hired", "Start date: Monday, March 3", True),
    ("what time do apps close", "Friday 8/4/17 9:00PM EST", True),
    ("will i close offers myself?", "Friday 8/4/17 9:00PM EST", False),
    ("will i have real work when i start?", "Monday 7/31/17", False),
    ("does the job pay for relocation?", "$5,000 relocation allowance", False),
    ("how much travel is there?", "Travel up to 25% of the time", False),
    ("is it remote?", "Monday 7/31/17", False),
    # the date only names the point the question counts from
    ("what happens after the closing date?", "Friday 8/4/17 9:00PM EST", False),
    ("can i still apply if i miss the deadline", "Friday 8/4/17 9:00PM EST", False),
    ("what should i do before my start date", "Start date: Monday, March 3", False),
])
def test_the_kind_of_value_a_question_asks_for(vocab, question, value, asks):
    """A deadline asks for a date, pay for an amount, "how long" for a duration; "pay" as a
    verb and a bare "how much" ask for no amount."""
    assert any(kind.search(value) for kind in vocab.values_asked(question)) is asks


def test_a_deadline_requires_a_date_and_a_salary_question_no_amount(vocab):
    """Only the kinds marked `required` make an answer without such a value no answer: "what
    does the salary depend on?" is answered by the factors, "deadline?" only by a date."""
    assert [p.pattern for p in vocab.values_asked("deadline to apply?", required=True)] == \
        [p.pattern for p in vocab.values_asked("deadline to apply?")]
    assert vocab.values_asked("what does the salary depend on?", required=True) == []
    assert vocab.values_asked("what does the salary depend on?")


def test_a_pay_step_is_a_level(vocab):
    """"step 5" pins an answer as a grade does: the Step 1 sentence does not answer it."""
    assert [(s.kind, s.key) for s in vocab.specifics("whats step 5 pay for this")] == \
        [("level", "step 5")]


def test_junior_means_the_first_rung_of_each_numbered_ladder(vocab):
    """A document whose sections are IC1..IC4 and M3..M5 starts its juniors at IC1 (the
    ladder starting lowest); a lone "GS-15" in a heading is no ladder; an IC1 passage then
    covers a question about a junior."""
    headings = {
        "eng.md": {"Engineering", "Levels", "IC1", "IC2", "IC4", "M3", "M5"},
        "posting.md": {"Analyst GS-15", "GS-15", "Duties"},
        "design.md": {"Design", "L2", "L3", "L4"},
    }
    firsts = vocab.first_rungs(headings)
    assert firsts == {"eng.md": {"ic1"}, "design.md": {"l2"}}
    equivalents = vocab.ladder_equivalents(set().union(*firsts.values()))
    junior = Specific("seniority", "junior", "junior")
    assert covered(junior, ["Engineering > IC1\n- Works on well-defined tasks"], equivalents)
    assert not covered(junior, ["Engineering > IC2\n- Works on well-defined tasks"], equivalents)
    assert not covered(junior, ["Engineering > IC1\n- Works on tasks"], vocab.equivalents)


def test_a_rung_whose_text_opens_with_a_seniority_label_is_what_that_word_means():
    """A ladder's level sections that open "Senior: ..." or "Staff designer: ..." say which
    level a "senior" or "staff" candidate means, in that document only; a sentence or a label
    without a seniority word ("Impact: ...") names nothing, nor does a word two rungs share."""
    vocab = load_vocabulary()
    openings = {
        "design.md": {"ic1": "- Entry level. Starting out in their career.",
                      "ic3": "- Mid-level: Represents an area of specialization.",
                      "ic4": "- Senior: Brings domain expertise to complex projects.",
                      "ic5": "- Staff designer: Provides innovative breakthroughs."},
        "eng.md": {"ic1": "- Impact: Delivers clearly defined projects.",
                   "ic2": "Works with senior engineers on larger projects: a long sentence."},
        "ops.md": {"l3": "Senior operator: runs the on-call rota.",
                   "l4": "Senior lead: runs the team."},
    }
    labels = vocab.rung_labels(openings)
    assert labels["design.md"] == {"entry": "ic1", "mid": "ic3", "senior": "ic4", "staff": "ic5"}
    assert "eng.md" not in labels
    assert labels["ops.md"] == {"lead": "l4"}  # "senior" labels both: it names neither


def test_where_the_work_happens_is_a_specific_any_word_for_it_covers(vocab):
    """"is the job remote or in office?" pins its answer to where the work happens: a passage
    on the role's levels does not answer it, a "Telework eligible" or "Location: ... 100%
    remote" line does (yes or no). Travel and on-call duty are pinned the same way."""
    found = vocab.specifics("is the ta job remote or in office")
    assert [(s.kind, s.key) for s in found] == [("arrangement", "remote"),
                                               ("arrangement", "in office")]
    remote = found[0]
    assert covered(remote, ["Telework eligible: yes, situational"], vocab.equivalents)
    assert covered(remote, ["Location: Washington, DC; Virtual (100% remote)"], vocab.equivalents)
    assert not covered(remote, ["IC2 owns a product area and mentors others"], vocab.equivalents)
    travel = vocab.specifics("how much travel do TAs do?")
    assert [(s.kind, s.key) for s in travel] == [("arrangement", "travel")]
    assert not covered(travel[0], ["Leads customer calls every week"], vocab.equivalents)
    assert [s.key for s in vocab.specifics("whats the on-call policy")] == ["on-call"]


def test_time_off_is_a_benefit_one_passage_must_name():
    """"how much pto?" names paid time off and vacation (the written-out abbreviation): a
    passage naming a kind of leave covers them; salary lines and a "Time Management" section
    do not, and by stems one passage must hold every word ("paid" in one passage and "time"
    in another is no mention of "paid time off")."""
    vocab = load_vocabulary()
    asked = vocab.specifics(vocab.expand("how much pto?", set()))
    assert [s.key for s in asked] == ["paid time off", "vacation"]
    leave = ["Benefits\n- Sick leave and vacation time, including 10 paid holidays per year"]
    assert all(covered(s, leave, vocab.equivalents) for s in asked)
    elsewhere = ["Pay\n- Salary band: $140,000, paid monthly", "Time Management\n- Meet deadlines"]
    assert not any(covered(s, elsewhere, vocab.equivalents) for s in asked)
    assert covered(asked[0], [" ".join(elsewhere)], vocab.equivalents)  # one passage: by stems


def test_abbreviated_places_are_places():
    """"salary in sf?" names San Francisco: an answer with the national figures does not
    answer it. "nyc" is New York, as postings write it ("New York, NY")."""
    vocab = load_vocabulary()
    sf = vocab.specifics(vocab.expand("whats the salary in sf", set()))
    assert [(s.kind, s.key) for s in sf] == [("place", "san francisco")]
    nyc = vocab.specifics(vocab.expand("is nyc an option?", set()))
    assert covered(nyc[0], ["Location: Washington, DC; New York, NY"], vocab.equivalents)


@pytest.mark.parametrize(("question", "about"), [
    ("what would my first 90 days look like?", True),
    ("What does a typical day look like?", True),
    ("who would I report to", True),
    ("What's the weather today?", False),
    ("give me a pancake recipe", False),
])
def test_questions_about_work_are_known_by_their_words(vocab, question, about):
    assert vocab.about_work(question) is about


def test_people_in_the_hiring_process_are_no_role_names(vocab):
    assert vocab.without_role_talk("who's the Hiring Manager for the PM job?").split() == [
        "who's", "the", "for", "the", "PM", "job?"]
    assert vocab.without_role_talk("is the product manager remote") == \
        "is the product manager remote"
