"""The Gradio chat: cited answers, follow-ups, a document filter, the source view, feedback, and documents.

Only calling the Python API (``qa.QA``) and rendering (``ui.render``) happen here. Each browser session keeps its
own conversation (``gr.State``), so two tabs never see each other's turns.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from docqa.index.ingest.formats import SUPPORTED
from docqa.qa.errors import NotAuthenticatedError, QAError
from docqa.qa.followup import Turn
from docqa.qa.pipeline import QA
from docqa.qa.types import Answer, DocumentInfo
from docqa.ui.auth import Gate
from docqa.ui.collections import Collection, Collections
from docqa.ui.jobs import Job
from docqa.ui.render import (
    DOCUMENT_COLUMNS,
    chat_message,
    citations_html,
    documents_rows,
    escape,
    hits_html,
    source_html,
)
from docqa.ui.tokens import Action, Principal

log = logging.getLogger(__name__)

CSS = """
.docqa-citation blockquote { white-space: pre-wrap; margin: .3em 0 1em 0; }
.docqa-sentence { background: #eef4ff; }
mark { background: #ffe066; padding: 0 2px; }
.docqa-hits td { vertical-align: top; font-size: 0.9em; }
.docqa-source { font-size: 0.9em; color: #444; }
.docqa-source-text { white-space: pre-wrap; max-height: 420px; overflow-y: auto; border: 1px solid #ddd;
  padding: .5em; font-size: 0.92em; }
#docqa-docs th { white-space: nowrap; }
@media (max-width: 700px) {  /* a phone: title and id; the numbers are in the chat's citations */
  #docqa-docs th:nth-child(n+3), #docqa-docs td:nth-child(n+3) { display: none; }
  #docqa-chat { height: 340px !important; }
}
"""

EXAMPLES = [  # questions about the seed documents
    "What is THAAD?",
    "Where will the drill be held?",
    "When will the drill be held?",
    "Who said the system threatens equilibrium on the Korean Peninsula?",
]
MAX_TURNS = 20
UI_DOCUMENTS = 1000  # documents the Documents tab, the filter and the delete picker list (a page, in id order)
SCROLL_JS = (
    "() => { setTimeout(() => document.querySelector('#docqa-source mark')?.scrollIntoView({block: 'center'}), 50); }"
)


def _doc_choices(docs: list[DocumentInfo]) -> list[tuple[str, str]]:
    out = []
    for d in docs:
        label = d.name if not d.title or d.title == d.name else f"{d.title[:60]} ({d.name})"
        out.append((label, d.doc_id))
    return out


NO_UNDO = (
    "This cannot be undone from the chat: an uploaded file is deleted from the server; a file of the collection's "
    "own folder stays on disk and can be added back with `docqa add`."
)


def _cite_choices(ans: dict | None) -> list[tuple[str, str]]:
    """Citations of an answer (and its alternatives) as dropdown choices "doc_id|start|end"."""
    if not ans or not ans.get("found"):
        return []
    out = []
    for i, group in enumerate([ans, *ans.get("alternatives", [])], start=1):
        for c in group.get("citations", []):
            page = f", p. {c['page']}" if c.get("page") else ""
            out.append((f"{i}. {c['text'][:40]} ({c['doc_id']}{page})", f"{c['doc_id']}|{c['start']}|{c['end']}"))
    return out


def _follow(job: Job, progress) -> None:
    """Show a job's progress (stage, counts and rate) until it has finished."""
    while not job.wait(0.2):
        progress(job.progress, desc=" ".join(x for x in (job.stage, job.detail) if x) + "…")


class Handlers:
    """What the chat's buttons do: find who is asking and in which collection, call the Python API (``QA``),
    render the result. One per app."""

    def __init__(self, collections: Collections, gate: Gate) -> None:
        self.collections, self.gate = collections, gate

    def who(self, request: gr.Request | None) -> Principal:
        """The signed-in token's principal (the chat's sign-in maps a token's name to it), or the address."""
        if not self.gate.required:
            host = request.client.host if request is not None and request.client else "chat"
            return Principal.open_server(host)
        name = getattr(request, "username", None) if request is not None else None
        if not name:  # the first token was created after this server started: its chat has no sign-in yet
            raise NotAuthenticatedError("this server now requires tokens: restart it to sign in to the chat")
        who = self.gate.tokens.by_name(name) if self.gate.tokens is not None else None
        if who is None:
            raise NotAuthenticatedError("your token is no longer valid (revoked?): sign in again")
        return who

    def coll(self, name: str | None, request: gr.Request | None, action: Action = "read") -> Collection:
        return self.collections.get(name or None, self.who(request), action)

    def ask(
        self,
        question: str,
        docs: list[str] | None = None,
        history: list[dict] | None = None,
        collection: str | None = None,
        request: gr.Request | None = None,
    ) -> tuple[Any, dict]:
        """One question -> (Answer or error message, answer JSON)."""
        turns = [Turn(t.get("question", ""), t.get("answer", "")) for t in (history or [])[-MAX_TURNS:]]
        try:
            ans = self.coll(collection, request).answer(question, None, docs or None, turns)
        except QAError as exc:
            q = question if isinstance(question, str) else ""
            return f"⚠️ {escape(str(exc))}", {"question": q, "error": str(exc)}
        except Exception:  # never a stack trace in the page
            log.exception("answer failed")
            return "⚠️ Something went wrong while answering; the error was logged.", {"error": "internal error"}
        return ans, ans.to_json()

    def respond(
        self,
        message: str,
        chat: list[dict],
        docs: list[str] | None,
        turns: list[dict],
        collection: str | None,
        request: gr.Request,
    ):
        ans, data = self.ask(message, docs, turns, collection, request)
        shown = escape(message if isinstance(message, str) else "")[:2000]
        if isinstance(ans, Answer):
            reply, cites, hits = chat_message(ans), citations_html(ans), hits_html(ans.hits)
            # the question as read ("And when?" -> "When will the drill be held?"), so that the next follow-up
            # leans on a whole question
            asked = ans.read_as or ans.question
            turns = [*(turns or []), {"question": asked, "answer": ans.text if ans.found else ""}]
        else:
            reply, cites, hits = ans, "", ""
        chat = [*(chat or []), {"role": "user", "content": shown}, {"role": "assistant", "content": reply}]
        choices = _cite_choices(data)
        pick = gr.update(choices=choices, value=choices[0][1] if choices else None)
        data = {**data, "collection": collection}
        return chat, "", cites, hits, turns[-MAX_TURNS:], data, pick, "", ""

    def answer_json(self, question: str, request: gr.Request) -> dict:
        return self.ask(question, request=request)[1]

    def open_source(self, pick: str | None, collection: str | None, request: gr.Request) -> str:
        if not pick:
            return "<p class='docqa-empty'>Ask a question first; its citations can be opened here.</p>"
        doc_id, start, end = pick.rsplit("|", 2)
        try:
            return source_html(self.coll(collection, request).service.source(doc_id, int(start), int(end)))
        except QAError as exc:
            return f"<p>⚠️ {escape(str(exc))}</p>"

    def rate(self, last: dict | None, rating: str, request: gr.Request) -> str:
        if not last or "error" in last:
            return "Nothing to rate yet."
        try:
            self.coll(last.get("collection"), request).service.rate(last, rating)  # type: ignore[arg-type]
        except QAError as exc:
            return f"⚠️ {escape(str(exc))}"
        return "Thanks: feedback saved." if rating == "up" else "Thanks: feedback saved; this answer was marked wrong."

    def rate_up(self, last: dict | None, request: gr.Request) -> str:
        return self.rate(last, "up", request)

    def rate_down(self, last: dict | None, request: gr.Request) -> str:
        return self.rate(last, "down", request)

    def docs_outputs(self, status: str, collection: str | None, request: gr.Request | None, keep_filter=None):
        """Status, table, filter, delete picker (never preselected), confirmation row hidden, examples shown
        only beside the seed documents."""
        try:
            c = self.coll(collection, request)
        except QAError as exc:
            empty = gr.update(choices=[], value=None)
            return f"⚠️ {escape(str(exc))}", [], empty, empty, gr.update(visible=False), gr.update(visible=False)
        docs = c.service.documents(0, UI_DOCUMENTS)
        total = c.service.document_count()
        if total > len(docs):
            more = (
                f"Showing the first {len(docs):,} of {total:,} documents (in id order); `docqa list --offset N` or "
                "GET /api/documents?offset=N lists the rest."
            )
            status = f"{status}<br>{more}" if status else more
        choices = _doc_choices(docs)
        ids = {v for _, v in choices}
        filt_value = [d for d in (keep_filter or []) if d in ids]
        return (
            status,
            documents_rows(docs),
            gr.update(choices=choices, value=filt_value),
            gr.update(choices=choices, value=None),
            gr.update(visible=False),
            gr.update(visible=c.service.serves_seeds()),
        )

    def add_files(
        self,
        files: list[str] | None,
        collection: str | None,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008 - Gradio's progress idiom
    ):
        if not files:
            return self.docs_outputs("Choose or drop files first.", collection, request)
        lines, added = [], []
        try:
            who = self.who(request)
            coll = self.collections.get(collection or None, who, "edit")
        except QAError as exc:
            return self.docs_outputs(f"⚠️ {escape(str(exc))}", collection, request)
        for f in files:
            p = Path(f)
            name = getattr(f, "orig_name", None) or p.name
            try:
                added.append(coll.store(who, name, p.read_bytes()))
            except QAError as exc:
                lines.append(f"⚠️ {escape(str(exc))}")
            except OSError as exc:
                lines.append(f"⚠️ {escape(name)}: cannot read the upload ({escape(str(exc))})")
        if added:
            try:
                job = coll.index(added)
            except QAError as exc:
                lines.append(f"⚠️ {escape(str(exc))}")
                return self.docs_outputs("<br>".join(lines), collection, request)
            _follow(job, progress)
            if job.state == "failed":
                lines.append(f"⚠️ indexing failed: {escape(job.error or '')}")
            else:
                skipped = {s["path"]: s["reason"] for s in job.to_json()["skipped"]}
                done = [d for d in added if d not in skipped]
                if done:
                    lines.append(f"Indexed {len(done)} file(s): {escape(', '.join(done))}.")
                for path, why in skipped.items():
                    lines.append(f"⚠️ skipped {escape(path)}: {escape(why)}")
        return self.docs_outputs("<br>".join(lines), collection, request)

    def ask_delete(self, doc_id: str | None, collection: str | None, request: gr.Request):
        """First step of a deletion: say what will go, and how final it is."""
        if not doc_id:
            return "Choose a document to delete.", gr.update(visible=False)
        try:
            self.coll(collection, request, "edit")
        except QAError as exc:
            return f"⚠️ {escape(str(exc))}", gr.update(visible=False)
        return f"Delete <b>{escape(doc_id)}</b>? {escape(NO_UNDO)}", gr.update(visible=True)

    def delete_doc(
        self,
        doc_id: str | None,
        collection: str | None,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008
    ):
        if not doc_id:
            return self.docs_outputs("Choose a document to delete.", collection, request)
        try:
            who = self.who(request)
            job = self.collections.get(collection or None, who, "edit").delete(who, doc_id)
        except QAError as exc:
            return self.docs_outputs(f"⚠️ {escape(str(exc))}", collection, request)
        _follow(job, progress)
        if job.state == "failed":
            return self.docs_outputs(f"⚠️ {escape(job.error or 'failed')}", collection, request)
        return self.docs_outputs(f"Deleted {escape(doc_id)}.", collection, request)

    def refresh_docs(self, collection: str | None, filt: list[str] | None, request: gr.Request):
        return self.docs_outputs("", collection, request, keep_filter=filt)

    def on_load(self, request: gr.Request):
        """Every page load: the collections this token may use, and the current documents of the first."""
        try:
            names = self.collections.names(self.who(request))
        except QAError:
            names = []
        first = names[0] if names else None
        pick = gr.update(choices=names, value=first, visible=len(names) > 1)
        return (pick, *self.docs_outputs("", first, request))


def create_app(
    collections: Collections | QA,
    gate: Gate | None = None,
    title: str = "DocQA: cited answers from your documents",
) -> gr.Blocks:
    """Build the Blocks app over the server's collections (or one QA service): no logic here beyond finding who
    asks, calling the Python API and rendering. Choices (collections, documents) are filled on every page load."""
    if isinstance(collections, QA):
        collections = Collections(collections)
    h = Handlers(collections, gate or Gate())
    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"## {title}\nEvery answer is an exact span of a document, with its source.")
        turns = gr.State([])
        last = gr.State(None)
        coll = gr.Dropdown(choices=[], label="Collection", visible=False, elem_id="docqa-collection")
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(label="Chat", height=460, sanitize_html=True, elem_id="docqa-chat")
                    box = gr.Textbox(
                        placeholder="Ask a question about the documents…", show_label=False, elem_id="docqa-question"
                    )
                    with gr.Row():
                        send = gr.Button("Ask", variant="primary", elem_id="docqa-ask")
                        clear = gr.Button("New conversation", elem_id="docqa-clear")
                    with gr.Column(visible=False, elem_id="docqa-examples") as examples:
                        gr.Examples(EXAMPLES, inputs=box)  # shown only beside the seed documents
                    filt = gr.Dropdown(
                        choices=[], multiselect=True, label="Ask within documents (empty: all)", elem_id="docqa-filter"
                    )
                with gr.Column(scale=2):
                    gr.Markdown("### Citations")
                    cites = gr.HTML(elem_id="docqa-citations")
                    with gr.Row():
                        up = gr.Button("Right answer", size="sm", elem_id="docqa-up")
                        down = gr.Button("Wrong answer", size="sm", elem_id="docqa-down")
                    rated = gr.Markdown(elem_id="docqa-rated")
                    with gr.Row():
                        pick = gr.Dropdown(choices=[], label="Citation", scale=3, elem_id="docqa-cite-pick")
                        open_btn = gr.Button("Open source", size="sm", scale=1, elem_id="docqa-open")
                    source = gr.HTML(elem_id="docqa-source")
            with gr.Accordion("Retrieved passages (BM25, dense and fused scores)", open=False):
                hits = gr.HTML(elem_id="docqa-hits")
        with gr.Tab("Documents", elem_id="docqa-docs-tab") as docs_tab:
            upload = gr.File(
                file_count="multiple",
                file_types=sorted(SUPPORTED),
                label="Add documents (drag and drop: pdf, docx, xlsx, pptx, csv, txt, md, html, epub, odt, images)",
                elem_id="docqa-upload",
            )
            add_btn = gr.Button("Add to index", variant="primary", elem_id="docqa-add")
            status = gr.HTML(elem_id="docqa-upload-status")
            table = gr.Dataframe(headers=DOCUMENT_COLUMNS, value=[], interactive=False, wrap=True, elem_id="docqa-docs")
            with gr.Row():
                del_pick = gr.Dropdown(choices=[], value=None, label="Document", elem_id="docqa-delete-pick")
                del_btn = gr.Button("Delete from index…", variant="stop", elem_id="docqa-delete")
            with gr.Row(visible=False, elem_id="docqa-confirm-row") as confirm_row:
                confirm = gr.Button("Yes, delete it", variant="stop", elem_id="docqa-delete-confirm")
                cancel = gr.Button("Cancel", elem_id="docqa-delete-cancel")

        outs = [chat, box, cites, hits, turns, last, pick, rated, source]
        send.click(h.respond, [box, chat, filt, turns, coll], outs, api_name="chat")
        box.submit(h.respond, [box, chat, filt, turns, coll], outs, api_visibility="private")
        reset = [chat, cites, hits, turns, last, pick, rated, source]
        new_conversation = (lambda: ([], "", "", [], None, gr.update(choices=[], value=None), "", ""), None, reset)
        clear.click(*new_conversation, api_visibility="private")
        open_btn.click(h.open_source, [pick, coll], source, api_visibility="private").then(None, js=SCROLL_JS)
        up.click(h.rate_up, last, rated, api_visibility="private")
        down.click(h.rate_down, last, rated, api_visibility="private")
        doc_outs = [status, table, filt, del_pick, confirm_row, examples]
        # uploads and deletions queue together, with their progress on the status line only
        doc_change = {"api_visibility": "private", "concurrency_id": "docs", "show_progress_on": status}
        add_btn.click(h.add_files, [upload, coll], doc_outs, **doc_change)
        del_btn.click(h.ask_delete, [del_pick, coll], [status, confirm_row], api_visibility="private")
        cancel.click(lambda: ("Nothing was deleted.", gr.update(visible=False)), None, [status, confirm_row])
        confirm.click(h.delete_doc, [del_pick, coll], doc_outs, **doc_change)
        docs_tab.select(h.refresh_docs, [coll, filt], doc_outs, api_visibility="private")
        # input, not change: the page load setting the choices must not reset a conversation under way
        coll.input(h.refresh_docs, [coll, filt], doc_outs, api_visibility="private").then(
            *new_conversation, api_visibility="private"
        )
        demo.load(h.on_load, None, [coll, *doc_outs], api_visibility="private")
        q_api = gr.Textbox(visible=False)
        out_api = gr.JSON(visible=False)
        q_api.submit(h.answer_json, q_api, out_api, api_name="answer")
    return demo


__all__ = ["CSS", "create_app"]
