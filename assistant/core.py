"""The public API: `Assistant.from_settings(...)`, `.ask(question, history, scope)`, `.retrieve`.

The pipeline is one LangChain runnable chain, each step handing the next a `Turn`:
    prepare (clean input, read abbreviations, resolve follow-ups and the role scope)
    -> retrieve (HybridRetriever, within the scope) -> assess (abstain or not, from the
    evidence) -> answer (the configured answerer, once per role when several fit) -> Reply
so other answerers plug into the same chain and LangChain callbacks see every step.
"""

from __future__ import annotations

import functools
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from assistant.answering import (
    AnswerInput,
    Draft,
    ExtractiveAnswerer,
    make_answerer,
    merge_drafts,
    passage_chunks,
)
from assistant.conversation import Message, Resolved, UnitLookup, parse_history, resolve
from assistant.generation import GenerativeAnswerer
from assistant.grounding import (
    CoverageChecker,
    Decision,
    decide,
    directives_removed,
    figure_line,
    figure_missing,
    name_missing,
    premise_clause,
    premise_figures,
    premise_unanswered,
)
from assistant.guard import Source
from assistant.index import (
    IndexSnapshot,
    Store,
    build_index,
    close_unused,
    open_index,
    outdated,
)
from assistant.retrieval import HybridRetriever, Scope, fuse
from assistant.roles import Catalog, Role
from assistant.settings import Settings
from assistant.text import (
    InertMarkup,
    content_words,
    correct_spelling,
    inert_markup,
    normalize,
    stem,
    stems,
    stopwords,
    words,
)
from assistant.texts import load_texts
from assistant.types import Citation, Context, IndexBusy, IndexOutdated, InvalidQuestion, Reply
from assistant.vocabulary import Specific, covered, load_vocabulary

log = logging.getLogger(__name__)

ScopeSpec = str | Sequence[str] | None


@dataclass
class Turn:
    """What the chain knows about one question, step by step."""

    question: str  # as asked, cleaned
    state: _State
    history: list[Message] = field(default_factory=list)
    resolved: Resolved | None = None  # the standalone reading (follow-ups resolved)
    scope: Scope = None  # the documents retrieval may use
    scope_given: bool = False  # set by the caller (a posting's widget), not guessed
    naming: str = ""  # the question (this one or an earlier one) whose words named the role
    names_role: bool = False  # this question's own words named it: a question about work
    query: str = ""  # what retrieval searches for
    documents: list[Document] = field(default_factory=list)
    decision: Decision | None = None
    named: list[Specific] = field(default_factory=list)  # every specific the question names
    specifics: list[Specific] = field(default_factory=list)  # those the passages lack
    # how the values an answer must hold are written (a date for "deadline to apply?")
    required: list[re.Pattern[str]] = field(default_factory=list)
    # every kind of value it asks for, the ones it may go without too ("which pays most?")
    wanted: list[re.Pattern[str]] = field(default_factory=list)
    # a question across many roles answered from only the roles whose passages it found
    some_roles: bool = False
    # the specifics that choose passages and lines: `named`, or for a follow-up that names
    # none ("do they have to ...?"), those its topic names (IC4)
    ranking: list[Specific] = field(default_factory=list)
    lists_roles: bool = False  # "which roles are open?": answered from the documents' titles
    across_roles: bool = False  # "which job pays the most?": each role answered on its own
    small_talk: str = ""  # "hi", "thanks": the kind of small talk the whole message is


class Assistant:
    """Answers questions about the roles from the indexed documents."""

    def __init__(self, settings: Settings, embeddings: Any = None, answerer: Any = None):
        self.settings = settings
        self.texts = load_texts(settings.texts_file)
        self.vocabulary = load_vocabulary(settings.vocabulary_file)
        self._embeddings = embeddings
        self._answerer = answerer or make_answerer(
            settings, embed=lambda texts: self.embeddings.embed_documents(texts))
        self._extractive = ExtractiveAnswerer(settings)  # the fallback of generated answers
        self._lock = threading.RLock()
        self._store = Store(settings)
        self._version = ""
        self._checked_at = 0.0  # when the pointer was last read (monotonic seconds)
        self._state: _State | None = None
        self.chain: Runnable = self._build_chain()

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, build_if_missing: bool = True,
        embeddings: Any = None, answerer: Any = None, **overrides: Any,
    ) -> Assistant:
        """Open the index (building it first if there is none) and return a ready assistant."""
        settings = settings.model_copy(update=overrides) if settings else Settings(**overrides)
        return cls(settings, embeddings=embeddings, answerer=answerer).open(build_if_missing)

    def open(self, build_if_missing: bool = True) -> Assistant:
        """Load the index in service, building it first when there is none.

        A build made by an older version of the code (or other chunking settings) is rebuilt
        too, so an upgrade never quietly serves the old index; texts that did not change keep
        their stored vectors, so this costs only the new embeddings.
        """
        if self._store.current() is None and build_if_missing:
            build_index(self.settings, embeddings_factory=lambda: self.embeddings)
        state: _State | None = None
        try:
            state = self._ensure_state()
        except IndexOutdated:  # stored in another layout: it cannot be served, only rebuilt
            if not build_if_missing:
                raise
        if build_if_missing and (state is None or outdated(state.snapshot.manifest,
                                                           self.settings)):
            log.info("the index in service was made by other code or settings; rebuilding")
            try:
                build_index(self.settings, embeddings_factory=lambda: self.embeddings)
            except IndexBusy:  # another process is building right now
                if state is None:  # questions say the index is being rebuilt until it lands
                    log.warning("the index is being rebuilt elsewhere; answering once it is in")
                    return self
                log.warning("index is being rebuilt elsewhere; serving build %s meanwhile",
                            state.snapshot.build)
            self._ensure_state()
        return self

    # ------------------------------------------------------------------------------------
    @property
    def _generator(self) -> GenerativeAnswerer | None:
        """The configured answerer when it is an LLM one (streamed, guarded, condensing)."""
        return self._answerer if isinstance(self._answerer, GenerativeAnswerer) else None

    @property
    def embeddings(self) -> Any:
        if self._embeddings is None:
            from assistant.embeddings import make_embeddings

            self._embeddings = make_embeddings(self.settings)
        return self._embeddings

    def _ensure_state(self) -> _State:
        """The loaded index; reloaded when a new build has been switched in.

        With a Chroma server, reading the pointer is a request to the server: it is read at
        most every `index_check_seconds` (a local pointer is one stat, read every time)."""
        close_unused()  # the index files of builds no longer served (see index.close_unused)
        now = time.monotonic()
        if (self.settings.chroma_host and self._state is not None and self._version
                and now - self._checked_at < self.settings.index_check_seconds):
            return self._state
        version = self._store.version()
        self._checked_at = now
        with self._lock:
            if self._state is None or version != self._version:
                snapshot = open_index(self.settings)
                self._state = _State(snapshot, self.embeddings, self.settings)
                self._version = version
                log.info("serving index build %s", snapshot.build)
            return self._state

    @property
    def catalog(self) -> Catalog:
        """The roles (documents) in the index in service."""
        return self._ensure_state().catalog

    def documents(self) -> list[dict[str, Any]]:
        """Every document: source, title, metadata and top-level topics."""
        return [{"source": r.source, "title": r.title, "metadata": r.metadata,
                 "topics": r.topics} for r in self.catalog.roles]

    @property
    def topics(self) -> list[str]:
        """What the assistant can help with: a role's sections, or the roles (at most
        `max_topics`)."""
        return self.catalog.topics(None, self.settings.max_topics)

    def clear_caches(self) -> None:
        """Forget cached query embeddings (benchmarks measure uncached questions)."""
        self._ensure_state().retriever.clear_cache()

    def reload(self) -> None:
        """Re-read the index in service (after `assistant index`)."""
        with self._lock:
            self._version = ""
        self._ensure_state()

    # ------------------------------------------------------------------------------------
    def ask(self, question: str, history: Sequence[Any] | None = None, scope: ScopeSpec = None,
            config: RunnableConfig | None = None) -> Reply:
        """Answer one question, using the conversation so far for follow-ups.

        `scope` limits the answer to some documents (a file name, a title, or a list of
        them), as on one role's posting; without it a question that names a role goes to it.
        """
        started = time.perf_counter()
        reply: Reply = self.chain.invoke({"question": question, "history": history,
                                          "scope": scope}, config=config)
        reply.latency_ms = (time.perf_counter() - started) * 1000
        return reply

    def stream(self, question: str, history: Sequence[Any] | None = None,
               scope: ScopeSpec = None, config: RunnableConfig | None = None,
               ) -> Iterator[str | Reply]:
        """Answer like `ask`, yielding the answer's text as it is made, then the final Reply.

        The text pieces are provisional: a generated answer is checked by the grounding guard
        only once it is complete, so the final Reply (always the last item) is what counts.
        """
        started = time.perf_counter()
        turn = self._evidence.invoke({"question": question, "history": history, "scope": scope},
                                     config=config)
        for event in self._answer_events(turn, config):
            if isinstance(event, Reply):
                event.latency_ms = (time.perf_counter() - started) * 1000
            yield event

    def retrieve(self, query: str, k: int = 5, scope: ScopeSpec = None) -> list[Context]:
        """The passages retrieval ranks highest for `query` within `scope`, best first."""
        clean = self.clean_question(query)
        state = self._ensure_state()
        sources = state.catalog.resolve(scope, self.texts["errors"]["unknown_scope"])
        text = self.vocabulary.expand(clean, state.vocabulary)
        documents = state.retriever.search(text, state.retriever.embed(text), k, sources)
        return [_context(d) for d in documents]

    def validate(self, question: Any, history: Any = None,
                 limits: Settings | None = None) -> tuple[str, list[Message]]:
        """The one input check every entry point shares (the API, the chat, the CLI, Python):
        the cleaned question and the parsed history, or InvalidQuestion with a message fit for
        the user. Cheap: no index or model is touched. A server passes its own `limits`."""
        cfg = limits or self.settings
        widget = self.texts["widget"]
        if isinstance(question, str) and len(question) > cfg.max_question_chars:
            raise InvalidQuestion(widget["question_too_long"].format(
                chars=len(question), limit=cfg.max_question_chars))
        if isinstance(history, (list, tuple)) and len(history) > cfg.max_history_messages:
            raise InvalidQuestion(widget["history_too_long"].format(
                count=len(history), limit=cfg.max_history_messages))
        clean = self.clean_question(question, cfg)
        try:
            messages = parse_history(history, cfg.max_history_turns, cfg.max_history_chars)
        except InvalidQuestion as exc:
            raise InvalidQuestion(self.texts["errors"]["history"].format(detail=exc.message)) from exc
        return clean, messages

    def clean_question(self, question: Any, limits: Settings | None = None) -> str:
        """Normalise a question or raise InvalidQuestion with a message fit for the user."""
        cfg = limits or self.settings
        if not isinstance(question, str):
            raise InvalidQuestion(self.texts["errors"]["empty"])
        clean = normalize(question)
        if not any(ch.isalnum() for ch in clean):
            raise InvalidQuestion(self.texts["errors"]["empty"])
        from assistant.chunking import count_tokens

        tokens = count_tokens(clean, cfg.encoding)
        if tokens > cfg.max_question_tokens:
            raise InvalidQuestion(self.texts["errors"]["too_long"].format(
                tokens=tokens, limit=cfg.max_question_tokens))
        return clean

    # ------------------------------------------------------------------------------------
    def _build_chain(self) -> Runnable:
        prepare = RunnableLambda(self._prepare, name="prepare")
        retrieve = RunnableLambda(self._retrieve, name="retrieve")
        assess = RunnableLambda(self._assess, name="assess")
        answer = RunnableLambda(self._answer, name="answer")
        self._evidence = (prepare | retrieve | assess).with_config(run_name="role_evidence")
        return (prepare | retrieve | assess | answer).with_config(run_name="role_assistant")

    def _prepare(self, inputs: dict[str, Any]) -> Turn:
        question, history = self.validate(inputs.get("question"), inputs.get("history"))
        state = self._ensure_state()
        cfg = self.settings
        scope = state.catalog.resolve(inputs.get("scope"), self.texts["errors"]["unknown_scope"])
        turn = Turn(question, state, history, scope=scope, scope_given=scope is not None)
        expand = lambda text: self.vocabulary.expand(text, state.vocabulary)  # noqa: E731
        # what is asked, without directives on the reply's form ("start ur reply with ...")
        corrected = correct_spelling(expand(directives_removed(question)), state.vocabulary,
                                     cfg.spelling_min_length, cfg.spelling_edit_length,
                                     cfg.spelling_known_zipf)
        expanded_history = [Message(m.role, expand(directives_removed(m.content))
                                    if m.role == "user" else m.content) for m in history]
        resolved = resolve(corrected, expanded_history, state.lookup, cfg.follow_up_max_words,
                           cfg.follow_up_focus_words, cfg.follow_up_topic_chars,
                           self.vocabulary.specifics, cfg.follow_up_item_share)
        if resolved.query != corrected or resolved.focus or resolved.avoid:
            resolved = self._condensed(resolved, question, history)
        turn.resolved = resolved
        turn.lists_roles = self.vocabulary.asks_for_roles(corrected)
        turn.small_talk = self.vocabulary.small_talk_kind(corrected)
        turn.across_roles = not turn.lists_roles and self.vocabulary.asks_across_roles(corrected)
        turn.named = self.vocabulary.specifics(resolved.coverage_text)
        premise = premise_clause(resolved.coverage_text)
        if premise is not None:  # "since supervisors get a $10k bonus, how do i ...": the
            # bonus is the premise (its figure is checked as one), not what is asked about
            start, end = premise
            clause = resolved.coverage_text[start:end].lower()
            rest = resolved.coverage_text[end:].lower()
            turn.named = [s for s in turn.named if s.key not in clause or s.key in rest]
        turn.required = self.vocabulary.values_asked(resolved.question, required=True)
        turn.wanted = self.vocabulary.values_asked(resolved.question)
        # only the follow-up's own words decide what must be covered
        turn.ranking = turn.named if turn.named or not resolved.kind \
            else self.vocabulary.specifics(resolved.query)
        by_name = False
        if turn.scope is None:  # a question (or the conversation) naming a role goes to it
            turn.naming, asked = self._conversation_role(state, corrected, expanded_history)
            if asked:
                turn.scope, by_name = frozenset(asked), True
                turn.names_role = turn.naming == corrected
        turn.query = self._ranking_query(resolved.query, turn.scope, state, by_name)
        if by_name and resolved.kind:
            turn.query = _without_names(turn.query, self._earlier_roles(state, turn,
                                                                        expanded_history),
                                        asks=self.vocabulary.values_asked)
        if by_name and resolved.queries:  # a follow-up's own words that only name the role
            chosen = [state.catalog.by_source[s] for s in sorted(turn.scope or ())]  # rank
            turn.resolved = resolved = replace(resolved, queries=[  # nothing within it
                q for q in resolved.queries if _without_names(q, chosen, bare=True)])
        rungs = _rungs_meant(turn, resolved.query, self.vocabulary.entry_levels)
        if rungs:
            turn.query = f"{turn.query} ({' '.join(rungs)})"
        return turn

    def _roles_named(self, state: _State, text: str) -> list[str]:
        """The sources whose roles `text` names, hiring-process phrases ("hiring manager")
        aside."""
        return state.catalog.named(self.vocabulary.without_role_talk(text),
                                   self.settings.role_match_min)

    def _earlier_roles(self, state: _State, turn: Turn, history: list[Message]) -> list[Role]:
        """The roles earlier questions named that this one, naming its own, moves away from
        ("and the TA specialist?" after the product manager's pay)."""
        assert turn.scope is not None
        out: dict[str, Role] = {}
        for m in history:
            if m.role == "user":
                for source in self._roles_named(state, m.content):
                    if source not in turn.scope:
                        out[source] = state.catalog.by_source[source]
        return list(out.values())

    def _conversation_role(self, state: _State, question: str, history: list[Message]
                           ) -> tuple[str, list[str]]:
        """The roles a question names by its own words; else those the latest earlier
        question that names any named. "and the TA specialist?" after the product manager's
        pay goes to the TA specialist (its own words, not the earlier question's and its
        together: four roles tie on those); "where is it based?" then stays with it. Also
        returns the question that named them."""
        asked = [question, *(m.content for m in reversed(history) if m.role == "user")]
        for text in asked:
            named = self._roles_named(state, text)
            if named:
                return text, named
        return "", []

    def _condensed(self, resolved: Resolved, question: str, history: list[Message]) -> Resolved:
        """With an LLM answerer, a follow-up rewritten by the model into a standalone
        question leads retrieval; the offline reading stays as a second query whose ranking
        is fused in. Any failure (an error, the deadline, an empty or overlong rewrite)
        keeps the offline reading alone."""
        generator = self._generator
        if generator is None or not self.settings.llm_condense or not history:
            return resolved
        messages = generator.condense_messages(question, [(m.role, m.content) for m in history])
        try:
            text = "".join(_timed(generator.text(messages), generator.lock,
                                  self.settings.llm_timeout_seconds))
        except Exception:  # noqa: BLE001 - the offline reading is the fallback
            log.warning("condensing the follow-up failed; using the offline reading",
                        exc_info=True)
            return resolved
        if generator.guard.echo.found(text):  # the rewrite repeats the instructions
            log.warning("the model's rewrite of a follow-up repeats its instructions; using "
                        "the offline reading")
            return resolved
        line = next((x.strip().strip('"\'') for x in text.splitlines() if x.strip()), "")
        try:
            line = self.clean_question(line)
        except InvalidQuestion:
            return resolved
        if not content_words(line) or line.lower() == resolved.query.lower():
            return resolved
        return replace(resolved, query=line, queries=[resolved.query, *resolved.queries])

    def _ranking_query(self, query: str, scope: Scope, state: _State, by_name: bool = False
                       ) -> str:
        """Within one role, the role's own name ranks nothing: leave its words out. When
        the question's words chose the role (`by_name`), each of those words has done its
        work, alone or not ("sourcegraph software engineer: when am i eligible ..."): left
        in, they rank the document's opening, which names the role, above what was asked."""
        if scope is None and len(state.catalog.roles) == 1:
            scope = frozenset(r.source for r in state.catalog.roles)
        if not self.settings.strip_title_words or scope is None or len(scope) != 1:
            return query
        tokens = query.split()

        def naming(names: Callable[[str], bool]) -> list[bool]:  # tokens whose words name
            return [bool(words(t)) and all(names(x) for x in words(t)) for t in tokens]

        [role] = [state.catalog.by_source[s] for s in scope]
        if by_name:
            named = naming(role.named_by)
            # a level word of the name next to its other words is the name ("the technical
            # lead"), not a level asked about
            levels = naming(lambda word: stem(word) in role.level_stems)
            for _ in range(2):  # "lead technical" and "technical lead", a word either side
                named = [flag or (level and ((i > 0 and named[i - 1]) or (
                    i + 1 < len(named) and named[i + 1])))
                    for i, (flag, level) in enumerate(zip(named, levels, strict=True))]
            own = _naming_occurrences(tokens, named)
            stripped = " ".join(t for t, n in zip(tokens, own, strict=True) if not n)
            # what is left must ask something: a content word, or a kind of value ("how much
            # does the analytics engineer make?" asks for an amount in question words only)
            if len(content_words(stripped)) >= 1 or self.vocabulary.values_asked(stripped):
                return stripped
        title = state.catalog.title_stems(scope)
        # a word of the title, its initials ("ml" of "Machine Learning") or a level word of
        # it ("senior" of "Senior Machine Learning Scientist")
        named = naming(lambda word: stem(word) in title or stem(word) in role.level_stems
                       or word.lower() in role.acronyms)
        worded = naming(lambda word: stem(word) in title)
        # only a run of two or more such words, one of them a word of the title, names the
        # role ("product manager", "senior ml scientist"); one word alone ("engineers") may be
        # what the question is about, and so may a level and initials ("senior ML experience")
        keep = list(tokens)
        i = 0
        while i < len(tokens):
            j = i
            while j < len(tokens) and named[j]:
                j += 1
            if j - i >= 2 and any(worded[i:j]):
                keep[i:j] = [""] * (j - i)
            i = max(j, i + 1)
        stripped = " ".join(t for t in keep if t)
        return stripped if len(content_words(stripped)) >= 1 \
            or self.vocabulary.values_asked(stripped) else query

    def _retrieve(self, turn: Turn, config: RunnableConfig | None = None) -> Turn:
        state = turn.state
        resolved = turn.resolved
        assert resolved is not None
        documents = self._search(state, turn.scope, [turn.query, *resolved.queries], config,
                                 resolved.question)
        if turn.scope is not None and not turn.scope_given:
            documents = self._named_role_checked(turn, documents, config)
        if resolved.avoid:
            documents = _deeper_first(documents, resolved.avoid)
        elif turn.ranking and self.settings.specifics_first:
            documents = self._naming_first(state, turn.ranking, documents)
        if turn.required and self.settings.specifics_first:
            documents = self._leading(documents,
                                      lambda d: _holds_all(turn.required, d.page_content))
        turn.documents = documents
        return turn

    def _search(self, state: _State, scope: Scope, queries: list[str],
                config: RunnableConfig | None, asked: str | None = None) -> list[Document]:
        """The passages for the question; a follow-up's several readings (the first leads)
        are searched each and their rankings fused. `asked` is the candidate's own question
        when the queries are not its words."""
        scoped = state.retriever.scoped(scope)
        if asked is not None:
            scoped = scoped.model_copy(update={"asked": asked})
        retriever = scoped.with_config(run_name="hybrid_retriever")
        documents = retriever.invoke(queries[0], config=config)
        if len(queries) > 1:
            rankings = [documents] + [retriever.invoke(q, config=config) for q in queries[1:]]
            documents = fuse(rankings, self.settings.rrf_k, self.settings.top_k)
        return documents

    def _named_role_checked(self, turn: Turn, documents: list[Document],
                            config: RunnableConfig | None) -> list[Document]:
        """The passages of the role the question's words named, unless its specifics say
        otherwise: "who does an M5 engineering manager at sourcegraph report to?" names the
        product manager's posting by "manager", but "M5" is a level only another role's
        document has. When the named role's passages lack a specific the question names and
        the whole corpus's cover them all, the whole corpus answers, if the question's words
        name the role that leads it too ("engineering"): a question that names only the
        designer's posting is not answered from another role's ("is the chicago office
        hybrid for the designer?" is refused, not answered with the engineers' office).
        And when the question also names other roles by a word the named role's documents
        never use (`_names_another`), those roles are searched instead, without that word,
        and answer if their best passage is relevant: "how do i become a manager at
        sourcegraph?" names the product manager's posting by "manager", but Sourcegraph's
        frameworks answer it. A named role whose passages are merely weak keeps the question
        ("do support engineers work weekends?" is the support framework's to refuse, not
        another role's that shares "engineers" to answer)."""
        resolved = turn.resolved
        assert resolved is not None
        floor = self.settings.min_relevance
        others, foreign = self._names_another(turn)
        if not others and not self._missing_specifics(turn.state, turn.named, documents):
            return documents
        query = self._ranking_query(resolved.query, None, turn.state)
        if others:
            query = " ".join(t for t in query.split()
                             if not (words(t) and {stem(x) for x in words(t)} <= foreign))
        wider = self._search(turn.state, others, [query, *resolved.queries], config,
                             resolved.question)
        if not wider or self._missing_specifics(turn.state, turn.named, wider):
            return documents
        if others and _best_relevance(wider) < floor:
            return documents  # nothing relevant in the other roles either
        if turn.state.catalog.naming_weights(turn.naming or resolved.query).get(
                wider[0].metadata["source"], 0.0) <= 0:
            return documents
        turn.scope, turn.query = others, query
        return wider

    def _names_another(self, turn: Turn) -> tuple[Scope, set[str]]:
        """The roles the question also names by a word of their names that the named role's
        documents never use, and the stems of those words ("how do i become a manager at
        sourcegraph?" names the product manager's posting by "manager", but "sourcegraph" is
        the other roles'); (None, empty) when it names none."""
        state = turn.state
        assert turn.scope is not None
        # only the words of the question that named the role, and not the ones that named it
        # ("TA" is the TA specialist's initials and another role's title word)
        chosen = [state.catalog.by_source[s] for s in turn.scope]
        unused = {stem(w) for w in state.coverage_for(turn.scope).uncovered(turn.naming)
                  if not any(r.named_by(w) for r in chosen)}
        roles = frozenset(r.source for r in state.catalog.roles
                          if r.source not in turn.scope and r.stems & unused)
        if not roles:
            return None, set()
        return roles, unused & set().union(*(state.catalog.by_source[s].stems for s in roles))

    def _naming_first(self, state: _State, named: list[Specific], documents: list[Document]
                      ) -> list[Document]:
        """When the leading passage does not mention every specific the question names
        ("a jr designer": junior, or its equivalent "entry level") and others found do, those
        lead, in their order, if about as relevant (within `specific_line_margin`): the
        answer is quoted from the passage about what was asked, not from one that only
        scored higher."""
        # not capitalised names or tools: the candidate's own background ("4 years of
        # Python") is written with them as often as what they ask about
        named = [s for s in named if s.kind not in ("name", "tool")]

        def names_all(document: Document) -> bool:
            # an overview's list of its sub-sections points at the passages about them: it
            # names "IC3" and "IC4" of "how do i get promoted from IC3 to IC4?", but is about
            # neither
            return not self._missing_in(state, named,
                                        [_without_listed_subsections(state, document)])

        if not named:
            return documents
        return self._leading(documents, names_all)

    def _leading(self, documents: list[Document], holds: Callable[[Document], bool]
                 ) -> list[Document]:
        """The passages that hold what the question needs lead, in their order, when the top
        one does not and they are about as relevant as it (within `specific_line_margin`, as
        for a line naming a specific in answering.py): "the Chicago office" does not answer
        "the pay band in Chicago?"."""
        if not documents or holds(documents[0]):
            return documents
        floor = float(documents[0].metadata.get("relevance", 0.0)) \
            - self.settings.specific_line_margin
        return sorted(documents, key=lambda d: not (
            holds(d) and float(d.metadata.get("relevance", 0.0)) >= floor))

    def _missing_in(self, state: _State, named: list[Specific], documents: list[Document]
                    ) -> list[Specific]:
        passages = _evidence(documents)
        return [s for s in named if not covered(s, passages, state.equivalents)]

    def _missing_specifics(self, state: _State, named: list[Specific], documents: list[Document]
                           ) -> list[Specific]:
        """The specifics the top `specifics_passages` passages do not mention."""
        return self._missing_in(state, named, documents[:self.settings.specifics_passages])

    def _assess(self, turn: Turn) -> Turn:
        state = turn.state
        resolved = turn.resolved
        assert resolved is not None
        documents = turn.documents
        cfg = self.settings
        # a clause of a long bullet that answers ("vendor selection") is evidence enough
        relevance = _best_relevance(documents, key="evidence")
        lexical = state.retriever.keyword_cover(turn.query, documents, turn.scope)
        # the question names something the leading passage names too ("is python a must
        # have?" where it lists Python): like the words themselves below, that is evidence the
        # passage is about the question, however weakly a casual wording matches it
        pinned = [s for s in turn.named if s.kind != "name"]
        if cfg.specifics_relevant and pinned and documents \
                and not self._missing_in(state, pinned, documents[:1]):
            relevance = max(relevance, cfg.min_relevance)
        if lexical >= cfg.lexical_cover:
            # a passage holds (nearly) every word of the question: short questions ("remote?")
            # match weakly by embedding, but the words themselves are evidence enough
            relevance = max(relevance, cfg.min_relevance)
        text = resolved.coverage_text
        coverage = state.coverage_for(turn.scope) if cfg.scoped_coverage else state.coverage
        # a word that names a role in scope is the documents' own, if only as initials they
        # never write out ("how do AEs get promoted?" of the Account Executive framework)
        chosen = [state.catalog.by_source[s] for s in sorted(turn.scope or ())]
        uncovered = [w for w in coverage.uncovered(text) if not any(r.named_by(w) for r in chosen)]
        retriever = state.retriever
        terms = coverage.measure(
            text, uncovered, embed_words=retriever.embed_many,
            embed_texts=retriever.embeddings.embed_documents, text_vector=retriever.embed(text),
            min_similarity=cfg.min_term_similarity,
            need_salience=cfg.min_relevance <= relevance < cfg.confident_relevance)
        specifics = self._missing_specifics(state, turn.named, documents)
        turn.specifics = specifics
        turn.decision = decide(turn.question, relevance, terms, specifics, cfg,
                               about_work=turn.names_role
                               or self.vocabulary.about_work(resolved.coverage_text))
        return turn

    def _answer(self, turn: Turn, config: RunnableConfig | None = None) -> Reply:
        final: Reply | None = None
        for event in self._answer_events(turn, config):
            if isinstance(event, Reply):
                final = event
        assert final is not None
        return final

    def _answer_events(self, turn: Turn, config: RunnableConfig | None = None,
                       ) -> Iterator[str | Reply]:
        """The answer's text as it is made, then the final Reply (the only authority); both
        as inert Markdown: tags and images from documents or a model show as text."""
        inert = InertMarkup()
        for event in self._events(turn, config):
            if isinstance(event, Reply):
                tail = inert.flush()
                if tail:
                    yield tail
                event.answer = inert_markup(event.answer)
                if turn.some_roles and not event.abstained:
                    event.note = " ".join(x for x in (event.note, self.texts["notes"][
                        "some_roles"]) if x)
                yield event
            else:
                piece = inert.feed(event)
                if piece:
                    yield piece

    def _events(self, turn: Turn, config: RunnableConfig | None = None,
                ) -> Iterator[str | Reply]:
        state = turn.state
        resolved = turn.resolved
        decision = turn.decision
        assert resolved is not None and decision is not None
        documents = turn.documents
        contexts = [_context(d) for d in documents]
        if turn.small_talk and decision.reason != "instructions" \
                and turn.small_talk in self.texts.get("small_talk", {}):
            yield self._small_talk(turn)
            return
        listed = self._roles_listed(turn) \
            if turn.lists_roles and decision.reason != "instructions" else None
        if listed is not None:
            yield from _progressive(listed.answer)
            yield listed
            return
        if decision.abstain:
            yield self._abstain(turn, decision, contexts)
            return
        across = turn.across_roles and turn.scope is None and len(state.catalog.roles) > 1
        groups = self._each_role(turn, config) if across else self._roles_to_answer(turn)
        if groups is None:  # many roles fit equally: ask which one is meant
            sources = [r.source for r in state.catalog.roles] if across else \
                dict.fromkeys(d.metadata["source"] for d in documents)
            titles = [state.catalog.by_source[s].title for s in sources]
            text = self.texts["abstain"]["which_role"].format(roles=_join(titles))
            yield Reply(turn.question, text, True, [], contexts, reason="ambiguous_role",
                        query=resolved.query)
            return
        inputs = [self._answer_input(turn, group) for group in groups]
        generator = self._generator
        notes = self.texts["notes"]
        # an amount or share the question states that no passage gives ("since it pays
        # $300k, ...") is a premise the answer must not take up: the passages' own figures
        # are quoted, with a note, and no model is asked (a small one tends to play along)
        evidence = _evidence([d for g in groups for d in g])
        # the passages about what the question names, when some are ("ic2s ... under 48
        # hrs?": IC2's figure is 20 hrs; another level's figures answer another question)
        evidence = [p for p in evidence if all(covered(s, [p], state.equivalents)
                                               for s in turn.named)] or evidence
        premise = premise_figures(turn.question, evidence)
        if generator is None or premise:
            plain = self._extractive if generator is not None else self._answerer
            assert not isinstance(plain, GenerativeAnswerer)  # what _generator tells apart
            draft = _quoted(plain, inputs)
            reply = self._checked(turn, draft, contexts)
            if not reply.abstained:
                yield from _progressive(reply.answer)
                if premise:
                    reply.note = notes["premise"]
                    reply.fallback = "premise" if generator is not None else ""
            yield reply
            return
        # a generated answer: streamed as the model writes it, then guarded; the extractive
        # answer stands in when the model fails, is too slow or too little of it is supported
        # (made once, when first needed: the on-point check reads it too)
        quotes = functools.cache(lambda: _quoted(self._extractive, inputs))
        data = AnswerInput(turn.question, turn.query, [p for i in inputs for p in i.passages],
                           focus=resolved.focus, avoid=resolved.avoid)
        prepared = generator.prepare(data)
        text, fallback, removed = "", "", []
        # while it writes, the candidate sees only sentences the guard has passed (or, with
        # stream_unchecked, the model's text as it comes)
        preview = None if self.settings.stream_unchecked else generator.checked_stream(prepared)
        try:
            for piece in _timed(generator.tokens(prepared, config), generator.lock,
                                self.settings.llm_timeout_seconds):
                text += piece
                shown = preview.feed(piece) if preview else piece
                if shown:
                    yield shown
            if preview:
                shown = preview.flush()
                if shown:
                    yield shown
        except TimeoutError:
            fallback = "timeout"
            log.warning("%s answer timed out after %.0f s", generator.backend,
                        self.settings.llm_timeout_seconds)
        except Exception:  # noqa: BLE001 - any backend failure falls back, never a traceback
            log.exception("%s answer failed", generator.backend)
            fallback = "failed"
        if not fallback:
            guarded = generator.finish(prepared, text)
            removed = guarded.removed
            fallback = "unsupported"
            # a question that states a number the passages do not give, answered with none of
            # theirs (a small model neither takes it up nor corrects it): the quotes answer it
            if self.settings.guard and premise_unanswered(turn.question, guarded.answer,
                                                          evidence):
                fallback = "premise"
            elif self.settings.guard and self.settings.guard_on_point \
                    and guarded.answer.strip() and not _on_point(generator, guarded, quotes()):
                fallback = "off_point"
            elif guarded.answer.strip() and guarded.kept_share >= self.settings.guard_min_kept:
                reply = self._checked(turn, guarded, contexts)
                if not reply.abstained:
                    reply.backend, reply.removed = generator.backend, removed
                    reply.verified = self.settings.guard
                    yield reply
                    return
        reply = self._checked(turn, quotes(), contexts)
        reply.removed, reply.fallback, reply.note = removed, fallback, notes[fallback]
        yield reply

    def _checked(self, turn: Turn, draft: Draft, contexts: list[Context]) -> Reply:
        """The checks every answer passes, whoever wrote it: what it cites covers the
        question's specifics, and a question for a figure or a name gets one."""
        state = turn.state
        resolved = turn.resolved
        decision = turn.decision
        assert resolved is not None and decision is not None
        if not draft.answer.strip():
            return self._abstain(turn, replace(decision, abstain=True, reason="not_covered"),
                                 contexts)
        # what the answer cites must cover the question's specifics ("and in chicago?" is not
        # answered by a pay band that names no place, even if Chicago appears elsewhere)
        cited = [f"{c.section}\n{c.text}" for c in draft.citations]
        hits = {s.kind for s in turn.named if covered(s, cited, state.equivalents)}
        # of several of one kind ("ic2 vs ic3"), the answer must cover at least one
        uncovered = [s for s in turn.named if s.kind not in hits]
        if uncovered:
            turn.specifics = uncovered
            return self._abstain(turn, replace(decision, abstain=True, reason="not_covered",
                                               missing=[s.text for s in uncovered]), contexts)
        titles = [c.section for c in draft.citations] + [
            state.catalog.by_source[c.source].title for c in draft.citations
            if c.source in state.catalog.by_source]
        if name_missing(resolved.coverage_text, draft.answer, titles, self.vocabulary.title_nouns):
            return self._abstain(turn, replace(decision, abstain=True, reason="no_name"),
                                 contexts)
        if figure_missing(resolved.coverage_text, draft.answer, state.coverage.stems) \
                or not _holds_all(turn.required, draft.answer):
            return self._abstain(turn, replace(decision, abstain=True, reason="no_figure"),
                                 contexts)
        return Reply(turn.question, draft.answer, False, draft.citations, contexts,
                     query=resolved.query, suggestions=self._suggestions(turn, draft))

    def _suggestions(self, turn: Turn, draft: Draft) -> list[str]:
        """Follow-ups drawn from the sections next to the first one cited (not canned)."""
        if not draft.citations:
            return []
        catalog = turn.state.catalog
        first = draft.citations[0]
        sections = catalog.neighbours(first.source, first.section, self.settings.max_suggestions,
                                      exclude=[c.section for c in draft.citations])
        role = catalog.by_source[first.source].title if first.source in catalog.by_source else ""
        texts = self.texts["suggest"]
        template = texts["many"] if len(catalog.roles) > 1 and not turn.scope_given \
            else texts["one"]
        return [template.format(section=s.split(" > ")[-1], role=role) for s in sections]

    def _answer_input(self, turn: Turn, documents: list[Document]) -> AnswerInput:
        resolved = turn.resolved
        assert resolved is not None
        equivalents = turn.state.equivalents
        return AnswerInput(
            question=turn.question, query=turn.query,
            passages=turn.state.retriever.passages(documents, turn.query),
            focus=resolved.focus, avoid=resolved.avoid,
            specifics=[functools.partial(_mentions, s, equivalents) for s in turn.named],
            word_weights=self._word_weights(turn), asked=self._asked(turn),
            seen=resolved.seen)

    @staticmethod
    def _asked(turn: Turn) -> list[Callable[[str], bool]]:
        """One test per kind of value asked: those `_checked` applies to an answer's lines,
        and those of the kinds an answer may go without ("which one pays the most?" is
        answered with the amounts, if the passage has them, but may be answered by a role's
        name alone)."""
        resolved = turn.resolved
        assert resolved is not None
        figure = figure_line(resolved.coverage_text, turn.state.coverage.stems)
        return [*([figure] if figure is not None else []),
                *(functools.partial(_gives, pattern) for pattern in turn.wanted)]

    def _word_weights(self, turn: Turn) -> dict[str, float]:
        """The query's word stems weighted by how rare they are in the documents in scope,
        relative to the query's average word: sharing "dc" with a line says more than
        sharing "job"."""
        idf = turn.state.retriever.idf(turn.scope)
        known = {w: idf[w] for w in stems(turn.query) if w in idf}
        if not known:
            return {}
        mean = sum(known.values()) / len(known)
        weights = {w: v / mean for w, v in known.items()} if mean > 0 else {}
        # a level code the question names chose the section (naming-first); within it, a line
        # that repeats the code (a summary row) is no more of an answer than the others
        for specific in turn.ranking:
            if specific.kind == "level":
                weights.update({w: 0.0 for w in stems(specific.key)})
        return weights

    def _each_role(self, turn: Turn, config: RunnableConfig | None
                   ) -> list[list[Document]] | None:
        """A question about the roles together ("do any of these jobs let me work
        remotely?"), unscoped: each role's own passages, searched within it, one group per
        role; with more roles than `max_roles_per_answer`, None (ask which is meant). The
        passages that rank first overall would answer for one role as if for all."""
        state, resolved = turn.state, turn.resolved
        assert resolved is not None
        roles = state.catalog.roles
        if len(roles) > self.settings.max_roles_per_answer:
            # too many to search each: the roles whose passages the question found are
            # relevant in their own right (`min_relevance`), when few enough to answer each
            sources = _relevant_sources(turn.documents, self.settings.min_relevance)
            if not sources or len(sources) > self.settings.max_roles_per_answer:
                return None
            turn.some_roles = True
            return [[d for d in turn.documents if d.metadata["source"] == s] for s in sources]
        groups = []
        for role in roles:
            found = self._search(state, frozenset({role.source}),
                                 [turn.query, *resolved.queries], config, resolved.question)
            if found:
                groups.append(found[:self.settings.secondary_passages])
        return groups or None

    def _roles_to_answer(self, turn: Turn) -> list[list[Document]] | None:
        """The passages to answer from, one group per role.

        One role in scope (given, named, or clearly best): one group. When the question names
        no role and the passages of several roles fit it about equally, each of those roles
        is answered, its name leading its part; more than `max_roles_per_answer`: None (ask
        which role is meant).
        """
        documents = turn.documents
        sources = list(dict.fromkeys(d.metadata["source"] for d in documents))
        if turn.scope_given or len(sources) < 2 or (turn.scope and len(turn.scope) == 1):
            return [documents]
        best: dict[str, float] = {}
        for d in documents:
            source = d.metadata["source"]
            best[source] = max(best.get(source, -1.0), float(d.metadata.get("relevance", 0.0)))
        top = max(best.values())
        # a role fits when its passages are relevant in their own right and about as good
        close = [s for s in sources if best[s] >= top - self.settings.role_margin
                 and best[s] >= self.settings.min_relevance] or sources[:1]
        if len(close) == 1:
            return [[d for d in documents if d.metadata["source"] == close[0]]]
        if len(close) > self.settings.max_roles_per_answer:
            return None
        return [[d for d in documents if d.metadata["source"] == s] for s in close]

    def _small_talk(self, turn: Turn) -> Reply:
        """"hi", "thanks!", "who are you?": a reply in kind, saying what can be asked (no
        documents searched for a greeting). Marked as no answer (`reason="small_talk"`),
        with no sources, and kept out of HR's content-gap report."""
        roles, topics = self._roles_and_topics(turn)
        text = self.texts["small_talk"][turn.small_talk].format(
            roles=roles, topics=topics, contact=self.settings.contact)
        assert turn.resolved is not None
        return Reply(turn.question, text, True, [], [], reason="small_talk",
                     query=turn.resolved.query)

    def _roles_and_topics(self, turn: Turn) -> tuple[str, str]:
        """How a reply that is no answer names the role(s) in scope ("the Backend Engineer
        role", "the open roles") and what can be asked (at most `max_topics` topics)."""
        catalog = turn.state.catalog
        scope = turn.scope if turn.scope else None
        titles = catalog.titles(scope)
        texts = self.texts["abstain"]
        roles = texts["one_role"].format(role=titles[0]) if len(titles) == 1 else \
            texts["many_roles"]
        return roles, _join(catalog.topics(scope, self.settings.max_topics)) or titles[0]

    def _roles_listed(self, turn: Turn) -> Reply | None:
        """"Which roles are open?": the roles in scope by their documents' own titles, each
        citing its document's opening passage (at most `max_roles_listed`). Only the roles
        whose names hold a word of the question, when some do ("which roles are at 18f?",
        "what sourcegraph jobs are there?"), and whose documents write every specific it
        names ("what roles are open in chicago?"); None when no role is left ("what jobs
        are at google?" is then refused like any question the documents do not answer)."""
        state = turn.state
        texts = self.texts["roles"]
        sources = sorted(turn.scope) if turn.scope else [r.source for r in state.catalog.roles]
        weights = state.catalog.naming_weights(self.vocabulary.without_role_talk(turn.question))
        if any(weights.get(s, 0.0) > 0 for s in sources):
            sources = [s for s in sources if weights.get(s, 0.0) > 0]
        pinned = [x for x in turn.named if x.kind != "name"]
        if any(x.kind != "place" for x in pinned):
            return None  # "jobs at google?": a document that uses Google is no job there
        sources = [s for s in sources
                   if all(_written_in(state, frozenset({s}), x.key) for x in pinned)]
        if not sources:
            return None
        shown = sources[:self.settings.max_roles_listed]
        citations = []
        for n, source in enumerate(shown, start=1):
            role = state.catalog.by_source[source]
            meta = state.snapshot.chunks[role.opening]
            citations.append(Citation(
                n, source, role.title, str(meta.get("text", "")),
                int(meta.get("line_start", 0)), int(meta.get("line_end", 0)), role.title,
                str(meta.get("locator", "line"))))
        if len(sources) == 1:
            text = texts["one"].format(role=citations[0].title)
        else:
            items = "\n".join(texts["item"].format(role=c.title, n=c.n) for c in citations)
            text = texts["many"].format(count=len(sources)) + "\n\n" + items
            if len(sources) > len(shown):
                text += "\n\n" + texts["more"].format(count=len(sources) - len(shown))
        assert turn.resolved is not None
        return Reply(turn.question, text, False, citations, [], query=turn.resolved.query)

    def _abstain(self, turn: Turn, decision: Decision, contexts: list[Context]) -> Reply:
        resolved = turn.resolved
        assert resolved is not None
        instead, citations = self._instead(turn, decision, contexts)
        # in place of naming the nearest section, when the lines come from it
        text = self._abstain_text(decision, turn, contexts, pointer=not instead or not (
            contexts and (citations[0].source, citations[0].section)
            == (contexts[0].source, contexts[0].section)))
        if instead:
            first, _, others = text.partition("\n\n")
            text = "\n\n".join(p for p in (first, instead, others) if p)
        return Reply(turn.question, text, True, citations, contexts, reason=decision.reason,
                     query=resolved.query)

    def _instead(self, turn: Turn, decision: Decision, contexts: list[Context]
                 ) -> tuple[str, list[Citation]]:
        """For a refused place, year or percentile ("it's based in austin, right?"),
        the lines of the nearest passage that give one of that kind, quoted, cited and
        labelled as not about what was asked (at most `instead_lines`): what the documents
        do give, so a false premise is corrected, never answered."""
        limit = self.settings.instead_lines
        kinds = {s.kind for s in turn.specifics} & set(_INSTEAD_KINDS)
        template = self.texts["abstain"].get("instead")
        if not limit or not kinds or not template or decision.reason != "not_covered":
            return "", []
        # the nearest passage that gives one, of the passages the specifics were looked for
        # in ("based in austin?": the Location line may sit in the second). Beyond the
        # nearest, only a line listing several (`instead_elsewhere_min`): one naming a place
        # in passing ("the Chicago office") says nothing about the salary asked for in Berlin
        floor = self.settings.min_relevance - self.settings.near_miss_margin
        hits: list[str] = []
        for rank, context in enumerate(contexts[:self.settings.specifics_passages]):
            if context.relevance < floor:
                break
            least = 1 if rank == 0 else self.settings.instead_elsewhere_min
            # not a line naming what was refused: "Location: ... Chicago, IL; ..." is not a
            # place other than Chicago, however little it says of Chicago's pay
            hits = [line.strip().lstrip("-*• ").strip() for line in context.text.splitlines()
                    if sum(s.kind in kinds for s in self.vocabulary.specifics(line)) >= least
                    and not any(covered(s, [line], turn.state.equivalents)
                                for s in turn.specifics)]
            hits = [h for h in dict.fromkeys(hits) if h][:limit]
            if hits:
                break
        if not hits:
            return "", []
        citation = Citation(1, context.source, context.section, context.text,
                            context.line_start, context.line_end, title=context.title,
                            locator=context.locator)
        lines = [f"- {h} [1]" for h in hits]
        names = _join([_INSTEAD_KINDS[k] for k in _INSTEAD_KINDS if k in kinds])
        missing = _join([f'"{w}"' for w in decision.missing[:3]]) or "this"
        return template.format(kinds=names, missing=missing) + "\n\n" + "\n".join(lines), \
            [citation]

    def _abstain_text(self, decision: Decision, turn: Turn, contexts: list[Context],
                      pointer: bool = True) -> str:
        texts = self.texts["abstain"]
        key = "specific" if decision.reason == "not_covered" and turn.specifics else decision.reason
        if key == "specific" and texts.get("specific_elsewhere") and all(
                _written_in(turn.state, turn.scope, s.key) for s in turn.specifics):
            # "the locality pay in chicago?": the posting lists Chicago as a location, so
            # "the documents don't say anything about chicago" would be untrue
            key = "specific_elsewhere"
        template = texts.get(key) or texts["not_covered"]
        missing = _join([f'"{w}"' for w in decision.missing[:3]]) or "this"
        roles, topics = self._roles_and_topics(turn)
        text = template.format(topics=topics, contact=self.settings.contact, missing=missing,
                               roles=roles)
        # Point at the nearest section, by name only and labelled as not the answer: when
        # the question's specifics are not covered (the documents give other places, years,
        # levels), or when the best passage matched only a little too weakly.
        floor = self.settings.min_relevance - self.settings.near_miss_margin
        near = [c for c in contexts[:1] if c.relevance >= floor]
        weak = floor <= decision.relevance < self.settings.min_relevance
        pointer_text = ""
        if near and key in ("specific", "specific_elsewhere") and texts.get("nearest"):
            # labelled "not about" what is missing only when it is not: the nearest passage
            # may name it without holding an answer ("IC5" has no figure for the question)
            passage = [f"{near[0].section}\n{near[0].text}"]
            if not any(covered(s, passage, turn.state.equivalents)
                       for s in turn.specifics):
                pointer_text = texts["nearest"].format(section=near[0].section, missing=missing)
        elif near and weak and decision.reason == "not_covered" and texts.get("closest"):
            pointer_text = texts["closest"].format(section=near[0].section)
        if pointer_text and pointer:
            first, _, others = text.partition("\n\n")
            text = "\n\n".join(p for p in (first, pointer_text, others) if p)
        return text


class _State:
    """Everything derived from one index build."""

    def __init__(self, snapshot: IndexSnapshot, embeddings: Any, settings: Settings):
        self.snapshot = snapshot
        self.retriever = HybridRetriever(snapshot=snapshot, embeddings=embeddings,
                                         settings=settings, k=settings.top_k,
                                         vocabulary=load_vocabulary(settings.vocabulary_file))
        self.words_by_source: dict[str, set[str]] = {}  # source -> the words its documents use
        for meta in snapshot.chunks.values():
            self.words_by_source.setdefault(meta["source"], set()).update(
                words(f"{meta['section']} {meta['text']}"))
        corpus_words = set().union(*self.words_by_source.values()) if self.words_by_source else set()
        self.vocabulary = frozenset(corpus_words | stopwords())
        self.coverage = CoverageChecker(snapshot.terms, snapshot.term_vectors, corpus_words)
        self._scoped: dict[frozenset[str], CoverageChecker] = {}
        self._scoped_lock = threading.Lock()
        self.lookup = UnitLookup(snapshot.unit_texts, snapshot.unit_meta)
        self.catalog = Catalog.from_snapshot(snapshot.chunks, snapshot.chunk_order,
                                             snapshot.manifest.get("documents", {}),
                                             settings.role_acronym_weight)
        headings = {role.source: {h for path in role.sections for h in path.split(" > ")}
                    for role in self.catalog.roles}
        # "junior" also means the first rung of each numbered ladder the documents have (IC1)
        vocabulary = self.retriever.vocabulary
        self.first_rungs = vocabulary.first_rungs(headings)
        self.equivalents = vocabulary.ladder_equivalents(set().union(*self.first_rungs.values()))
        # "senior" also means the rung whose text opens "Senior: ..." (IC4), per document
        openings: dict[str, dict[str, str]] = {}
        for chunk_id in snapshot.chunk_order:
            meta = snapshot.chunks[chunk_id]
            code = vocabulary.level_code(str(meta["section"]).split(" > ")[-1])
            if code:
                lines = openings.setdefault(meta["source"], {})
                if code not in lines:
                    lines[code] = str(meta["text"]).strip().split("\n", 1)[0]
        self.rung_labels = vocabulary.rung_labels(openings)

    def coverage_for(self, scope: Scope) -> CoverageChecker:
        """The coverage check for the documents in scope (the whole corpus when None): on a
        posting's widget, "the documents" are that posting's. Kept for the last 64 scopes."""
        if not scope:
            return self.coverage
        with self._scoped_lock:
            checker = self._scoped.get(scope)
            if checker is None:
                checker = self.coverage.within(
                    set().union(*(self.words_by_source.get(s, set()) for s in scope)))
                if len(self._scoped) >= 64:
                    self._scoped.pop(next(iter(self._scoped)))
                self._scoped[scope] = checker
        return checker


def _without_listed_subsections(state: _State, document: Document) -> Document:
    """An overview passage without the lines that list its sub-sections by name."""
    meta = document.metadata
    role = state.catalog.by_source.get(str(meta.get("source", "")))
    section = str(meta.get("section", ""))
    if meta.get("kind") != "overview" or role is None:
        return document
    children = {s.rsplit(" > ", 1)[-1] for s in role.children(section)}
    kept = [line for line in document.page_content.splitlines()
            if line.lstrip("- ").strip() not in children]
    return Document(page_content="\n".join(kept), metadata=meta)


def _quoted(answerer: Callable[[AnswerInput], Draft], inputs: list[AnswerInput]) -> Draft:
    """One answer from each group's draft (the roles answered side by side)."""
    return merge_drafts([d for d in (answerer(i) for i in inputs) if d.answer.strip()])


def _on_point(generator: GenerativeAnswerer, guarded: Draft, quoted: Draft) -> bool:
    """Whether a generated answer says at least one thing the quotes chosen for the
    question say (the guard's own support test, against those lines alone). A small model
    given "who may apply" among a posting's sections may write, all of it supported, about
    the required documents instead: a true answer to another question."""
    lines = [line.strip() for line in quoted.answer.splitlines() if line.strip()]
    heads = [line.strip("*") for line in lines if line.startswith("**") and line.endswith("**")]
    said = [_MARKERS.sub("", line).lstrip("-*\u2022 ").strip() for line in lines
            if not (line.startswith("**") and line.endswith("**"))]
    said = [line for line in said if line]
    if not said:
        return True
    # the section paths count as the cited passages' do ("IC2" in "IC2 engineers ..."), on
    # lines of their own: a first line would be read as a heading no sentence may repeat
    text = "\n" + "\n".join(heads + said)
    checked = generator.guard.check(_MARKERS.sub("", guarded.answer), [Source(1, text, said)])
    return bool(checked.sentences)


_MARKERS = re.compile(r"\s*\[\d+\]")


def _evidence(documents: list[Document]) -> list[str]:
    """Passages as the specifics and figure checks read them: section path, then text."""
    return [f"{d.metadata.get('section', '')}\n{d.page_content}" for d in documents]


def _written_in(state: _State, scope: Scope, phrase: str) -> bool:
    """Whether the documents in `scope` (all when None) write `phrase` (as a phrase: their
    "Step 1" and a "5" elsewhere are no mention of "step 5"). Read on a refusal only."""
    wanted = set(words(phrase))
    used = [state.words_by_source.get(s, set()) for s in (scope or state.words_by_source)]
    if not wanted or not any(wanted <= u for u in used):
        return False  # cheap: some document must at least use every word
    pattern = re.compile(rf"(?<![\w]){re.escape(normalize(phrase).lower())}(?![\w])")
    return any(pattern.search(normalize(f"{meta['section']} {meta['text']}").lower())
               for meta in state.snapshot.chunks.values()
               if not scope or meta["source"] in scope)


def _gives(pattern: re.Pattern[str], line: str) -> bool:
    return pattern.search(line) is not None


def _holds_all(values: list[re.Pattern[str]], text: str) -> bool:
    """Whether `text` holds a value of each kind (a date, an amount) `values` describe."""
    return all(value.search(text) for value in values)


# kinds of specific a refusal shows the documents' own of ("instead"), and their plural name.
# Not levels: lines name other levels in passing ("in line with M4"), and a ladder's levels
# are its sections, which the nearest-section pointer names.
_INSTEAD_KINDS = {"place": "places", "year": "years", "percentile": "percentiles"}


def _best_relevance(documents: list[Document], key: str = "relevance") -> float:
    """The best passage's relevance, or with `key="evidence"` the clause reading abstention
    takes (a passage without one: its relevance)."""
    return max((float(d.metadata.get(key, d.metadata.get("relevance", 0.0)))
                for d in documents), default=0.0)


def _relevant_sources(documents: list[Document], floor: float) -> list[str]:
    """The sources of the passages at least `floor` relevant, in ranked order."""
    return list(dict.fromkeys(d.metadata["source"] for d in documents
                              if float(d.metadata.get("relevance", 0.0)) >= floor))


def _without_names(query: str, roles: list[Role], bare: bool = False,
                   asks: Callable[[str], Any] = lambda _: False) -> str:
    """`query` without the words that name `roles` (their title and file-name words, and
    their initials): a follow-up that moves to another role keeps the earlier question's
    topic ("what does the 18f pm job pay") but not what named the earlier role. When
    nothing else is left that asks something (a content word, or what `asks` finds: "how
    much does the make"): `query` as it was, or with `bare`, ""."""
    if not roles:
        return query
    kept = [t for t in query.split()
            if not (words(t) and all(any(r.named_by(x) for r in roles) for x in words(t)))]
    if content_words(" ".join(kept)) or asks(" ".join(kept)):
        return " ".join(kept)
    return "" if bare else query


def _naming_occurrences(tokens: list[str], naming: list[bool]) -> list[bool]:
    """Of the tokens whose words name a role, the ones that did the naming. Where the name
    stands as a run of its words ("product manager"), another word outside the run that
    only shares a stem with one of them is the question's own ("will i manage people as a
    product manager?" asks about managing); the same word again is the name again."""
    def stems_of(token: str) -> frozenset[str]:
        return frozenset(stem(x) for x in words(token))

    def forms(token: str) -> frozenset[str]:
        return frozenset(x.lower() for x in words(token))

    in_run = [flag and ((i > 0 and naming[i - 1]) or (i + 1 < len(tokens) and naming[i + 1]))
              for i, flag in enumerate(naming)]
    run = [t for t, r in zip(tokens, in_run, strict=True) if r]
    run_stems = {stems_of(t) for t in run}
    run_forms = {forms(t) for t in run}
    return [flag and (in_run[i] or stems_of(t) not in run_stems or forms(t) in run_forms)
            for i, (t, flag) in enumerate(zip(tokens, naming, strict=True))]


def _rungs_meant(turn: Turn, query: str, entry_levels: frozenset[str]) -> list[str]:
    """The ladder rungs in scope a question means without naming their codes, searched too:
    "a junior designer" is the first rung ("IC1"), and "a senior designer" the rung whose
    text the documents open with "Senior: ..." (a passage about a level seldom repeats the
    word). A level code the question names itself stands."""
    state = turn.state

    def in_scope(source: str) -> bool:
        return turn.scope is None or source in turn.scope

    if any(s.key in entry_levels for s in turn.named):
        return sorted(set().union(*(codes for source, codes in state.first_rungs.items()
                                    if in_scope(source))))
    if any(s.kind == "level" for s in turn.named):
        return []
    asked = set(re.findall(r"[a-z]+", query.lower()))
    return sorted({code for source, labels in state.rung_labels.items() if in_scope(source)
                   for word, code in labels.items() if word in asked})


def _mentions(specific: Specific, equivalents: dict[str, list[str]], text: str) -> bool:
    return covered(specific, [text], equivalents)


def _progressive(text: str) -> Iterator[str]:
    """An extractive answer revealed line by line (it is whole at once; this lets a streaming
    client show the first lines while it renders the rest)."""
    yield from text.splitlines(keepends=True)


_DONE = object()


def _timed(source: Iterator[str], lock: threading.Lock, seconds: float) -> Iterator[str]:
    """`source`'s items, produced on a worker thread, until `seconds` have passed in all.

    Raises TimeoutError at the deadline and tells the worker to stop at its next item, so a
    slow or hung backend never holds the reply. `lock` keeps one generation per model at a
    time (an in-process model is not thread-safe); waiting for it counts against the deadline.
    """
    items: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()

    def work() -> None:
        if not lock.acquire(timeout=seconds):
            items.put(TimeoutError("the model is busy"))
            return
        try:
            for item in source:
                if stop.is_set():
                    break
                items.put(item)
            items.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            items.put(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
            lock.release()

    threading.Thread(target=work, name="llm-answer", daemon=True).start()
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                item = items.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                raise TimeoutError from None
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _join(items: list[str]) -> str:
    *rest, last = items or [""]
    return f"{', '.join(rest)} and {last}" if rest else last


def _context(document: Any) -> Context:
    meta = document.metadata
    return Context(
        text=document.page_content, source=meta["source"], section=meta["section"],
        score=float(meta.get("score", 0.0)), relevance=float(meta.get("relevance", 0.0)),
        line_start=int(meta.get("line_start", 0)), line_end=int(meta.get("line_end", 0)),
        chunk_id=meta.get("chunk_id", ""), title=meta.get("title", ""),
        locator=meta.get("locator", "line"),
    )


def _deeper_first(documents: list[Document], shown: list[str]) -> list[Document]:
    """"Say more": the passages beneath one already shown (its sub-sections, the detail of
    a list it gave) come first, then the ones shown, then the rest. Another section that
    happens to rank high ("FAQ" above the answer it gave) is not more about the item: when
    nothing lies beneath, the passage shown leads again."""
    def is_shown(d: Document) -> bool:
        return any(c in shown for c in passage_chunks(d))

    paths = [(d.metadata.get("source"), d.metadata.get("section", "")) for d in documents
             if is_shown(d)]

    def rank(d: Document) -> int:
        if is_shown(d):
            return 1
        source, section = d.metadata.get("source"), d.metadata.get("section", "")
        return 0 if any(source == s and section.startswith(f"{p} > ") for s, p in paths) else 2

    return sorted(documents, key=rank)


__all__ = ["Assistant", "Turn"]
