"""Roles: scopes name documents by file or title; a question names a role by its words."""

from __future__ import annotations

import pytest

from assistant.roles import Catalog, Role
from assistant.types import InvalidQuestion

MESSAGE = "There is no role document called {scope}. The documents are: {known}."


@pytest.fixture
def catalog() -> Catalog:
    return Catalog([
        Role("acme-backend-engineer.md", "Backend Engineer", topics=["Duties", "Pay"]),
        Role("acme-support-engineer.md", "Support engineering career framework"),
        Role("gov-product-manager.md", "Product Manager"),
        Role("gov-engineering.md", "Engineering"),
        Role("acme-product-designer.md", "Design career development framework"),
    ])


def test_a_scope_names_documents_by_file_stem_or_title(catalog):
    assert catalog.resolve("acme-backend-engineer.md", MESSAGE) == {"acme-backend-engineer.md"}
    assert catalog.resolve("acme-backend-engineer", MESSAGE) == {"acme-backend-engineer.md"}
    assert catalog.resolve("backend engineer", MESSAGE) == {"acme-backend-engineer.md"}
    assert catalog.resolve(["Product Manager", "gov-engineering.md"], MESSAGE) == {
        "gov-product-manager.md", "gov-engineering.md"}
    assert catalog.resolve(None, MESSAGE) is None
    with pytest.raises(InvalidQuestion, match=r'no role document called astronaut.*"Backend'):
        catalog.resolve("astronaut", MESSAGE)


@pytest.mark.parametrize(("question", "named"), [
    ("is the acme support engineer job remote?", ["acme-support-engineer.md"]),
    ("what does a product designer do at ic3?", ["acme-product-designer.md"]),
    ("does the gov product manager job pay for relocation?", ["gov-product-manager.md"]),
    ("BACKEND ENGINEER salary?", ["acme-backend-engineer.md"]),
    # a word every role or many roles share names none
    ("what does an engineer do all day?", []),
    ("what's the weather like?", []),
])
def test_a_question_names_a_role_by_its_distinctive_words(catalog, question, named):
    assert catalog.named(question, 0.5) == named


def test_several_roles_named_equally_are_all_returned(catalog):
    assert catalog.named("what do acme engineers do?", 0.5) == [
        "acme-backend-engineer.md", "acme-support-engineer.md"]


def test_one_document_is_never_routed():
    assert Catalog([Role("r.md", "Backend Engineer")]).named("backend engineer?", 0.1) == []


def test_title_words_to_leave_out_keep_levels(catalog):
    senior = Catalog([Role("s.md", "Senior Machine Learning Scientist")])
    stems = senior.title_stems(frozenset({"s.md"}))
    assert "senior" not in stems and {"machin", "learn", "scientist"} <= stems


def test_topics_of_one_role_or_the_roles_themselves(catalog):
    assert catalog.topics(frozenset({"acme-backend-engineer.md"}), 8) == ["Duties", "Pay"]
    assert catalog.topics(None, 3) == ["Backend Engineer", "Support engineering career framework",
                                       "Product Manager"]


def test_an_acronym_in_the_plural_names_its_role():
    """"tas" names a "TA Career Development Framework", "pms" a "PM handbook": the stemmer
    leaves words this short alone, so the plural is undone for them."""
    roles = Catalog([Role("acme-technical-advisor.md", "TA Career Development Framework"),
                     Role("acme-pm.md", "PM handbook"), Role("acme-designer.md", "Designer")])
    assert roles.named("how do junior tas onboard customers?", 0.5) == [
        "acme-technical-advisor.md"]
    assert roles.named("do pms write specs?", 0.5) == ["acme-pm.md"]
    assert roles.named("does the bus stop nearby?", 0.5) == []


def test_the_initials_of_a_role_name_it_below_its_own_words():
    """"the pm job" names the Product Manager posting by the initials of its title, though a
    document's "11:59 pm" keeps "pm" from being read as written out; a word of another
    role's title ("TA Career Development Framework") still wins over initials ("Talent
    Acquisition Specialist"), and initials count once per word ("tas": "ta" and "tas")."""
    roles = Catalog([Role("acme-product-manager.md", "Product Manager"),
                     Role("acme-technical-advisor.md", "TA Career Development Framework"),
                     Role("acme-talent.md", "Talent Acquisition Specialist"),
                     Role("acme-designer.md", "Designer")])
    assert roles.named("whats the deadline for the pm job?", 0.5) == ["acme-product-manager.md"]
    assert roles.named("do tas work with sales?", 0.5) == ["acme-technical-advisor.md"]
    assert roles.named("is the tas role remote?", 0.5) == ["acme-technical-advisor.md"]
    assert "pm" in roles.by_source["acme-product-manager.md"].acronyms
    off = Catalog(roles.roles, acronym_weight=0.0)
    assert off.named("whats the deadline for the pm job?", 0.5) == []


def test_a_word_names_a_role_by_stem_or_initials_singular_or_plural():
    role = Role("acme-ae.md", "Account Executive Career Development Framework")
    assert all(role.named_by(w) for w in ("executives", "AE", "AEs", "aes", "Framework"))
    assert not any(role.named_by(w) for w in ("quota", "as", "promoted"))
