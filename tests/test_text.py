"""Text handling: normalising user input, words, stems, spelling."""

from __future__ import annotations

import pytest

from assistant.text import content_words, correct_spelling, normalize, stems, stopwords, words


@pytest.mark.parametrize(("raw", "clean"), [
    ("  What   is\tthe\npay? ", "What is the pay?"),
    ("What\u200b is\u200c the\u200d pay?", "What is the pay?"),  # zero-width characters
    ("\u202eWhat is the pay?\u202c", "What is the pay?"),  # bidi overrides
    ("What\u200f is the\u200e pay?", "What is the pay?"),  # RTL / LTR marks
    ("What is the pay?\x00\x07\x1b", "What is the pay?"),  # control characters
    ("\ufeffWhat is the pay?", "What is the pay?"),  # byte order mark
    ("Ｗｈａｔ ｉｓ ｔｈｅ ｐａｙ？", "What is the pay?"),  # fullwidth forms (NFKC)
    ("ﬁnancial ﬂexibility", "financial flexibility"),  # ligatures (NFKC)
    ("It\u2019s \u201cgood\u201d", "It's \"good\""),  # curly quotes
    ("Is the pay good? 💰", "Is the pay good? 💰"),  # emoji are kept
])
def test_normalize(raw, clean):
    assert normalize(raw) == clean


def test_words_are_lower_case_tokens():
    assert words("What's the 75th PERCENTILE of C++ pay?") == [
        "what's", "the", "75th", "percentile", "of", "c", "pay"]
    assert words("Ｐｙｔｈｏｎ") == ["python"]


def test_content_words_drop_stopwords_and_single_letters():
    assert content_words("What is the salary for a senior ML scientist in R?") == [
        "salary", "senior", "ml", "scientist"]
    assert {"the", "what", "is"} <= stopwords()


def test_stems_conflate_inflections():
    assert stems("challenges") == stems("challenge")
    assert stems("Mentoring junior engineers") == stems("mentor junior engineer")


@pytest.fixture(scope="module")
def vocabulary(role_lines) -> frozenset[str]:
    return frozenset(w for line in role_lines for w in words(line)) | stopwords()


@pytest.mark.parametrize(("typo", "fixed"), [
    ("What are the chalenges?", "What are the challenges?"),  # deletion
    ("waht is the salary", "what is the salary"),  # swapped letters
    ("what are the responsibilties", "what are the responsibilities"),
])
def test_correct_spelling_fixes_one_edit_typos(vocabulary, typo, fixed):
    assert correct_spelling(typo, vocabulary) == fixed


@pytest.mark.parametrize("question", [
    "Do I need a visa?",  # short words are only fixed for swaps: "visa" never becomes "via"
    "Is the salary higher in Londn?",  # capitalised words mid-sentence are names
    "What does the role pay?",
])
def test_correct_spelling_leaves_words_alone(vocabulary, question):
    assert correct_spelling(question, vocabulary) == question
