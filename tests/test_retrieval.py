"""Retrieval over the role index: the passage that answers ranks first; k; score order; dense."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.retrieval import HybridRetriever

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("question", "sections", "evidence"), [
    ("What is the 75th percentile salary?", ["Percentile Breakdown (ZipRecruiter data)"],
     "75th Percentile: $125,000"),
    ("Which programming languages do I need?", ["Programming Skills", "Foundational Skills"],
     "Python"),
    ("What is the average salary?", ["Average and Range"], "$130,819"),
    ("How many years of experience do I need?", ["Professional Experience"], "5+ years"),
    ("Which cities pay the most?", ["Geographic Variations"], "Santa Clara, CA"),
    ("What challenges around bias and fairness will I face?", ["Bias and Fairness"],
     "mitigating biases"),
    ("Is the job remote?", ["Work Environment"], "hybrid work model"),
    ("What tools are used for model observability?", ["Model Deployment and Monitoring"],
     "Arize"),
])
def test_the_answering_passage_ranks_first(bot, question, sections, evidence):
    top = bot.retrieve(question, k=5)[0]
    assert any(name in top.section for name in sections), (question, top.section)
    assert evidence in top.text
    assert top.source == "senior-machine-learning-scientist.txt"
    assert 0 < top.line_start <= top.line_end


@pytest.mark.parametrize("k", [1, 3, 7])
def test_k_is_respected(bot, retriever, k):
    assert len(bot.retrieve("What does the role pay?", k=k)) == k
    assert len(retriever.search("What does the role pay?",
                                retriever.embed("What does the role pay?"), k)) == k


def test_query_vectors_are_cached_once_as_float32(retriever, embeddings):
    retriever.clear_cache()
    vector = retriever.embed("whats the pay like")
    assert isinstance(vector, np.ndarray) and vector.dtype == np.float32
    assert np.allclose(vector, embeddings.embed_query("whats the pay like"), atol=1e-6)
    assert retriever.embed("whats the pay like") is vector  # the cached array itself
    both = retriever.embed_many(["whats the pay like", "remote?"])
    assert both[0] is vector and both[1].dtype == np.float32
    assert retriever.embed("remote?") is both[1]


def test_retriever_invoke_returns_top_k_documents(retriever, role_settings):
    documents = retriever.invoke("What are the best practices for deploying models?")
    assert len(documents) == role_settings.top_k
    assert len({d.metadata["chunk_id"] for d in documents}) == len(documents)
    for d in documents:
        assert {"source", "section", "line_start", "line_end", "score", "relevance"} \
            <= set(d.metadata)


@pytest.mark.parametrize("question", [
    "What is the 75th percentile salary?",
    "What soft skills matter?",
    "How is demand for ML specialists expected to grow?",
])
def test_contexts_are_in_order_of_fused_score_and_relevance(bot, role_settings, question):
    contexts = bot.ask(question).contexts
    assert len(contexts) == 5
    order = [c.score + role_settings.weight_relevance * c.relevance for c in contexts]
    assert order == sorted(order, reverse=True)
    assert len({c.score for c in contexts}) > 1  # the scores rank, they are not all equal


def test_relevance_reorders_what_fusion_found(snapshot, embeddings, role_settings, retriever):
    """Fusion by rank alone puts "Continuous Learning" second for a question about languages;
    the passage whose bullets are closest to the question ("Requirements") comes before it."""
    by_rank = HybridRetriever(snapshot=snapshot, embeddings=embeddings, k=5,
                              settings=role_settings.model_copy(update={"weight_relevance": 0}))
    question = "Which programming languages do I need?"
    fused = by_rank.invoke(question)
    reordered = retriever.invoke(question)
    assert [d.metadata["score"] for d in fused] == sorted(
        (d.metadata["score"] for d in fused), reverse=True)
    # the same passages, in another order
    assert {d.metadata["passage_id"] for d in fused} == \
        {d.metadata["passage_id"] for d in reordered}
    assert [d.metadata["passage_id"] for d in fused] != \
        [d.metadata["passage_id"] for d in reordered]


def test_relevance_separates_on_and_off_topic(bot):
    on = bot.retrieve("What is the average salary?", k=1)[0].relevance
    off = bot.retrieve("What's the weather like in Paris today?", k=1)[0].relevance
    assert on > 0.5
    assert off < 0.3


def test_dense_mode_returns_chromas_order(snapshot, embeddings, role_settings):
    settings = role_settings.model_copy(update={"retrieval": "dense"})
    dense = HybridRetriever(snapshot=snapshot, embeddings=embeddings, settings=settings, k=5)
    collection = snapshot.client.get_collection(snapshot.chunk_collection)
    for question in ("What is the 75th percentile salary?", "What soft skills matter?"):
        documents = dense.invoke(question)
        expected = collection.query(query_embeddings=[embeddings.embed_query(question)],
                                    n_results=5)
        assert [d.metadata["chunk_id"] for d in documents] == expected["ids"][0]
        # the score is Chroma's cosine similarity (1 - distance)
        for d, distance in zip(documents, expected["distances"][0], strict=True):
            assert d.metadata["score"] == pytest.approx(1 - distance, abs=1e-4)


def test_hybrid_ranking_differs_from_dense(snapshot, embeddings, role_settings, retriever):
    """The fusion is not a no-op: it reorders Chroma's candidates."""
    settings = role_settings.model_copy(update={"retrieval": "dense"})
    dense = HybridRetriever(snapshot=snapshot, embeddings=embeddings, settings=settings, k=5)
    question = "What is the 75th percentile salary?"
    hybrid_ids = [d.metadata["chunk_id"] for d in retriever.invoke(question)]
    dense_ids = [d.metadata["chunk_id"] for d in dense.invoke(question)]
    assert hybrid_ids != dense_ids
    assert "Percentile Breakdown" in snapshot.chunks[hybrid_ids[0]]["section"]


def test_a_clause_of_a_long_bullet_can_carry_its_passage(snapshot, embeddings, role_settings,
                                                          retriever):
    """'Guide teams of researchers and engineers, ..., manage operating budgets, ...' is one
    bullet of several duties; a question about one of them finds it through that clause."""
    whole = HybridRetriever(snapshot=snapshot, embeddings=embeddings, k=5,
                            settings=role_settings.model_copy(update={"phrases": False}))
    question = "Will I guide researchers?"
    where = "Senior Machine Learning Scientist > Overview > Key Responsibilities"
    assert retriever.invoke(question)[0].metadata["section"] == where
    assert whole.invoke(question)[0].metadata["section"] != where
    # the clauses rank passages only: they are never units an answer could quote
    assert snapshot.phrase_vectors.shape[0] == len(snapshot.phrase_chunks) > 100
    assert all(m["kind"] != "phrase" for m in snapshot.unit_meta)
    assert set(snapshot.phrase_chunks) <= set(snapshot.chunks)


def test_a_scoped_questions_words_weigh_as_rare_as_they_are_in_its_documents(make_corpus,
                                                                            embeddings):
    """BM25 weights for keyword cover come from the documents in scope: a word every other
    role's posting uses is still rare, and weighs a lot, on the one posting asked about."""
    from assistant.index import build_index, open_index

    pay = ("# Posting\n## Salary\n- Base salary: $120,000 per year\n## Location\n"
           "- Remote work from any state\n## Benefits\n- Health insurance for the family\n"
           "## Travel\n- Conference trips twice a year\n## Team\n- Six engineers and a lead\n")
    others = {f"role-{i}.md": f"# Role {i}\n## Remote\n- Remote work is possible\n"
              f"## Duties\n- Duty number {i} of the remote team\n" for i in range(6)}

    def retriever(files: dict[str, str], name: str) -> HybridRetriever:
        settings = make_corpus(files, name=name)
        build_index(settings, embeddings_factory=lambda: embeddings)
        return HybridRetriever(snapshot=open_index(settings), embeddings=embeddings,
                               settings=settings)

    alone = retriever({"pay.md": pay}, "alone")
    many = retriever({"pay.md": pay, **others}, "many")
    scope = frozenset({"pay.md"})
    assert many.idf(scope) == alone.idf()
    assert many.idf(scope)["remot"] > many.idf()["remot"]  # rare in scope, common outside
    assert many.idf(scope) is many.idf(scope)  # kept for the next question on that posting
    documents = many.invoke("remote work?")
    assert many.keyword_cover("remote work", documents, scope) >= \
        many.keyword_cover("remote work", documents)


def test_a_passage_holding_the_kind_of_value_asked_for_ranks_first(make_corpus, embeddings):
    """"deadline to apply?" asks for a date: the section that gives the dates outranks the one
    that talks most about applying; a question that asks for no date ranks as before, and so
    does a query whose cue words are not the candidate's (a follow-up's quoted line)."""
    posting = (
        "# Analyst\n## How to apply\n- Send us your resume and a cover letter\n"
        "- Tell us why you want to join the team\n"
        "## Basic information\n- Applications open: Monday 7/31/17 - Friday 8/4/17 9:00PM EST\n"
        "- Location: Washington\n## Duties\n- Analyse data for the programme\n")
    settings, snapshot = _indexed(make_corpus, embeddings, {"analyst.md": posting}, "kinds")

    def first(question: str, asked: str | None = None, **overrides: float) -> str:
        from assistant.vocabulary import load_vocabulary

        retriever = HybridRetriever(snapshot=snapshot, embeddings=embeddings, asked=asked,
                                    settings=settings.model_copy(update=overrides),
                                    vocabulary=load_vocabulary())
        return str(retriever.invoke(question)[0].metadata["section"])

    assert first("deadline to apply?", weight_answer_kind=0.0).endswith("How to apply")
    assert first("deadline to apply?").endswith("Basic information")
    assert first("how do i apply?").endswith("How to apply")
    assert first("deadline to apply?", asked="and then?").endswith("How to apply")


def test_a_section_whose_heading_names_a_specific_of_the_question_is_marked(make_corpus,
                                                                           embeddings):
    """The section-naming signal marks each chunk whose path (within its document) names one of
    the question's specifics, in every document that has such a section, and no other."""
    from assistant.vocabulary import load_vocabulary

    def posting(role: str) -> str:
        return (f"# {role}\n## Pay\n### IC2\n- Band A\n### IC4\n- Band C\n"
                "## Benefits\n- Paid leave\n")

    settings, snapshot = _indexed(make_corpus, embeddings, {
        "analyst.md": posting("Analyst"), "designer.md": posting("Designer")}, "named")
    retriever = HybridRetriever(snapshot=snapshot, embeddings=embeddings, settings=settings,
                                vocabulary=load_vocabulary())
    chunks = np.arange(len(snapshot.chunk_order))
    paths = [retriever._paths[int(c)] for c in chunks]

    def marked(question: str) -> list[str]:
        return sorted(p for p, v in zip(paths, retriever._named_sections(question, chunks),
                                        strict=True) if v)

    assert marked("what is the band at ic4?") and all("ic4" in p for p in marked(
        "what is the band at ic4?"))
    assert len(marked("what is the band at ic4?")) == 2  # one in each posting
    both = marked("ic2 or ic4, which pays more?")
    assert len(both) == 4 and {p.rsplit(" > ", 1)[-1] for p in both} == {"ic2", "ic4"}
    assert marked("what are the benefits?") == []  # no specific named: nothing marked


def test_how_far_ahead_a_keyword_match_is_counts_not_only_its_rank(retriever, role_settings):
    """Two chunks close on the dense side: the one far ahead on BM25 ranks first when the
    keyword scores themselves count; by ranks alone the dense side's order wins."""
    import numpy as np

    from assistant.retrieval import Signals

    two = np.array([i for i in range(len(retriever._chunk_ids))
                    if i not in retriever._children][:2], dtype=np.int64)

    def order(weight: float) -> list[int]:
        signals = Signals(chunks=two, chunk=np.array([0.50, 0.48], dtype=np.float32),
                          best_unit=np.zeros(2, dtype=np.float32),
                          best_part=np.zeros(2, dtype=np.float32),
                          title=np.zeros(2, dtype=np.float32),
                          keywords=np.array([0.1, 5.0]), relevance=np.zeros(2), fetch=2)
        cfg = role_settings.model_copy(update={"weight_keyword_score": weight})
        return np.argsort(-retriever.fuse_signals(signals, cfg, 2), kind="stable").tolist()

    assert order(0.0) == [0, 1]
    assert order(role_settings.weight_keyword_score) == [1, 0]


def test_a_documents_opening_text_competes_like_any_section(make_corpus, embeddings):
    """What a posting says before its first heading (often what the role officially is) has
    no title of its own: its own similarity stands in for one, instead of the -1 that ranked
    it as if a title had matched nothing at all."""
    posting = (
        "# Product Manager\n\nWe are hiring a product manager for our partner agencies. "
        "Innovation Specialist is the official government title for this position.\n\n"
        "## Role summary\n\n- Guide a product from concept to delivery\n"
        "## Duties\n\n- Lead cross-functional teams\n")
    settings, snapshot = _indexed(make_corpus, embeddings, {"pm.md": posting}, "opening")
    retriever = HybridRetriever(snapshot=snapshot, embeddings=embeddings, settings=settings)
    query = "whats the official government job title"
    signals = retriever.signals(query, retriever.embed(query), 20)
    sections = [retriever.snapshot.chunks[retriever._chunk_ids[int(c)]]["section"]
                for c in signals.chunks]
    opening = sections.index("Product Manager")
    assert signals.title[opening] == signals.chunk[opening] > -1.0
    titled = [i for i, s in enumerate(sections) if " > " in s]
    assert titled and all(signals.title[i] != signals.chunk[i] for i in titled)
    assert retriever.invoke(query)[0].metadata["section"] == "Product Manager"


def test_a_record_of_facts_is_as_close_as_its_closest_line(make_corpus, embeddings):
    """A block of labelled facts ("Security clearance: Public trust") has a section vector like
    none of its lines, so a question about one of them found the prose section that talks
    around it; the record's closest line now stands in for its own similarity. Labelled
    bullets ("- Experience: ...") are a list's aspects, not a record."""
    from assistant.retrieval import _lists_facts

    posting = (
        "# Analyst\n\n## Basic information\n\n"
        "**Job announcement number:** 18-ABC-123\n\n**Series & Grade:** 0301-15\n\n"
        "**Appointment type:** Term, not to exceed 2 years\n\n"
        "**Security clearance:** Public trust\n\n**Location:** Washington, DC\n\n"
        "**Travel required:** Occasional travel\n\n"
        "## Employment requirements\n\n- You must be a US citizen to apply\n"
        "- Undergo and pass a background investigation. You must be granted this clearance "
        "before you can start the job.\n"
        "- Serve a one year trial period, if required.\n"
        "## Duties\n\n- Analyse data for the programme\n")
    settings, snapshot = _indexed(make_corpus, embeddings, {"analyst.md": posting}, "record")

    def first(question: str, **overrides: float) -> str:
        retriever = HybridRetriever(snapshot=snapshot, embeddings=embeddings,
                                    settings=settings.model_copy(update=overrides))
        return str(retriever.invoke(question)[0].metadata["section"])

    assert first("clearance level?", line_stands_for_chunk=0.0).endswith("Employment requirements")
    assert first("clearance level?").endswith("Basic information")
    assert first("do i need to be a citizen?").endswith("Employment requirements")
    assert _lists_facts("Location: DC\nGrade: 15\nTravel: none", 0.5)
    assert not _lists_facts("- Education: a degree\n- Experience: 5 years\n- Skills: Python", 0.5)
    assert not _lists_facts("Location: DC\nWe hire all year round.", 0.5)  # too short


def _indexed(make_corpus, embeddings, files: dict[str, str], name: str):  # type: ignore[no-untyped-def]
    """Settings for a small corpus of `files`, indexed, and the build's snapshot."""
    from assistant.index import build_index, open_index

    settings = make_corpus(files, name=name)
    build_index(settings, embeddings_factory=lambda: embeddings)
    return settings, open_index(settings)
