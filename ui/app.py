"""The Gradio chat: cited answers, follow-ups, a document filter, the source view, feedback, and documents.

Only calling the Python API (``qa.QA``) and rendering (``ui.render``) happen here. Each browser session keeps its
own conversation (``gr.State``), so two tabs never see each other's turns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from docqa.index.ingest.formats import SUPPORTED
from docqa.qa.errors import QAError
from docqa.qa.followup import Turn
from docqa.qa.pipeline import QA
from docqa.qa.types import Answer
from docqa.ui.jobs import IndexJobs
from docqa.ui.render import (
    DOCUMENT_COLUMNS,
    chat_message,
    citations_html,
    documents_rows,
    escape,
    hits_html,
    source_html,
)

log = logging.getLogger(__name__)

CSS = """
.docqa-citation blockquote { white-space: pre-wrap; margin: .3em 0 1em 0; }
.docqa-sentence { background: #eef4ff; }
mark { background: #ffe066; padding: 0 2px; }
.docqa-hits td { vertical-align: top; font-size: 0.9em; }
.docqa-source { font-size: 0.9em; color: #444; }
.docqa-source-text { white-space: pre-wrap; max-height: 420px; overflow-y: auto; border: 1px solid #ddd;
  padding: .5em; font-size: 0.92em; }
"""

EXAMPLES = [  # questions about the seed documents
    "What is THAAD?",
    "Where will the drill be held?",
    "When will the drill be held?",
    "Who said the system threatens equilibrium on the Korean Peninsula?",
]
MAX_TURNS = 20
SCROLL_JS = (
    "() => { setTimeout(() => document.querySelector('#docqa-source mark')?.scrollIntoView({block: 'center'}), 50); }"
)


def _doc_choices(service: QA) -> list[tuple[str, str]]:
    out = []
    for d in service.documents():
        label = d.name if not d.title or d.title == d.name else f"{d.title[:60]} ({d.name})"
        out.append((label, d.doc_id))
    return out


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


class Handlers:
    """What the chat's buttons do: call the Python API (``QA``), render the result. One per app."""

    def __init__(self, service: QA, jobs: IndexJobs, answer: Callable[..., Answer]) -> None:
        self.service, self.jobs, self.answer = service, jobs, answer

    def ask(self, question: str, docs: list[str] | None = None, history: list[dict] | None = None) -> tuple[Any, dict]:
        """One question -> (Answer or error message, answer JSON)."""
        turns = [Turn(t.get("question", ""), t.get("answer", "")) for t in (history or [])[-MAX_TURNS:]]
        try:
            ans = self.answer(question, None, docs or None, turns)
        except QAError as exc:
            q = question if isinstance(question, str) else ""
            return f"⚠️ {escape(str(exc))}", {"question": q, "error": str(exc)}
        except Exception:  # never a stack trace in the page
            log.exception("answer failed")
            return "⚠️ Something went wrong while answering; the error was logged.", {"error": "internal error"}
        return ans, ans.to_json()

    def respond(self, message: str, chat: list[dict], docs: list[str] | None, turns: list[dict]):
        ans, data = self.ask(message, docs, turns)
        shown = escape(message if isinstance(message, str) else "")[:2000]
        if isinstance(ans, Answer):
            reply, cites, hits = chat_message(ans), citations_html(ans), hits_html(ans.hits)
            turns = [*(turns or []), {"question": ans.question, "answer": ans.text if ans.found else ""}]
        else:
            reply, cites, hits = ans, "", ""
        chat = [*(chat or []), {"role": "user", "content": shown}, {"role": "assistant", "content": reply}]
        choices = _cite_choices(data)
        pick = gr.update(choices=choices, value=choices[0][1] if choices else None)
        return chat, "", cites, hits, turns[-MAX_TURNS:], data, pick, "", ""

    def answer_json(self, question: str) -> dict:
        return self.ask(question)[1]

    def open_source(self, pick: str | None) -> str:
        if not pick:
            return "<p class='docqa-empty'>Ask a question first; its citations can be opened here.</p>"
        doc_id, start, end = pick.rsplit("|", 2)
        try:
            return source_html(self.service.source(doc_id, int(start), int(end)))
        except QAError as exc:
            return f"<p>⚠️ {escape(str(exc))}</p>"

    def rate(self, last: dict | None, rating: str) -> str:
        if not last or "error" in last:
            return "Nothing to rate yet."
        try:
            self.service.rate(last, rating)  # type: ignore[arg-type]
        except QAError as exc:
            return f"⚠️ {escape(str(exc))}"
        return "Thanks: feedback saved." if rating == "up" else "Thanks: feedback saved; this answer was marked wrong."

    def docs_outputs(self, status: str, keep_pick: bool = False):
        choices = _doc_choices(self.service)
        return (
            status,
            documents_rows(self.service.documents()),
            gr.update(choices=choices),
            gr.update(choices=choices) if keep_pick else gr.update(choices=choices, value=None),
        )

    def add_files(self, files: list[str] | None, progress=gr.Progress()):  # noqa: B008 - Gradio's progress idiom
        if not files:
            return self.docs_outputs("Choose or drop files first.")
        lines, added = [], []
        try:
            self.jobs.check_room()
        except QAError as exc:
            return self.docs_outputs(f"⚠️ {escape(str(exc))}")
        for f in files:
            p = Path(f)
            name = getattr(f, "orig_name", None) or p.name
            try:
                added.append(self.service.store_upload(name, p.read_bytes()))
            except QAError as exc:
                lines.append(f"⚠️ {escape(str(exc))}")
            except OSError as exc:
                lines.append(f"⚠️ {escape(name)}: cannot read the upload ({escape(str(exc))})")
        if added:
            try:
                job = self.jobs.submit(f"add {', '.join(added)}", lambda report: self.service.sync(report=report))
            except QAError as exc:
                lines.append(f"⚠️ {escape(str(exc))}")
                return self.docs_outputs("<br>".join(lines))
            while not job.wait(0.2):
                progress(job.progress, desc=f"{job.stage}…")
            if job.state == "failed":
                lines.append(f"⚠️ indexing failed: {escape(job.error or '')}")
            else:
                lines.append(f"Indexed {len(added)} file(s): {escape(', '.join(added))}.")
                for path, why in job.stats.skipped if job.stats else []:
                    lines.append(f"⚠️ skipped {escape(Path(path).name)}: {escape(why)}")
        return self.docs_outputs("<br>".join(lines))

    def delete_doc(self, doc_id: str | None, progress=gr.Progress()):  # noqa: B008
        if not doc_id:
            return self.docs_outputs("Choose a document to delete.")
        try:
            self.service.unstage_document(doc_id)
            job = self.jobs.submit(f"remove {doc_id}", lambda report: self.service.sync(report=report))
        except QAError as exc:
            return self.docs_outputs(f"⚠️ {escape(str(exc))}")
        while not job.wait(0.2):
            progress(job.progress, desc=f"{job.stage}…")
        if job.state == "failed":
            return self.docs_outputs(f"⚠️ {escape(job.error or 'failed')}")
        return self.docs_outputs(f"Deleted {escape(doc_id)}.")

    def refresh_docs(self):
        return self.docs_outputs("", keep_pick=True)


def create_app(
    service: QA,
    jobs: IndexJobs | None = None,
    answer_fn: Callable[..., Answer] | None = None,
    title: str = "DocQA: cited answers from your documents",
) -> gr.Blocks:
    """Build the Blocks app around a QA service (no logic here beyond calling and rendering)."""
    h = Handlers(service, jobs or IndexJobs(), answer_fn or service.answer)
    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"## {title}\nEvery answer is an exact span of a document, with its source.")
        turns = gr.State([])
        last = gr.State(None)
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
                    filt = gr.Dropdown(
                        choices=_doc_choices(h.service),
                        multiselect=True,
                        label="Ask within documents (empty: all)",
                        elem_id="docqa-filter",
                    )
                    if h.service.serves_seeds():  # the seed's questions only beside the seed documents
                        gr.Examples(EXAMPLES, inputs=box)
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
            table = gr.Dataframe(
                headers=DOCUMENT_COLUMNS,
                value=documents_rows(h.service.documents()),
                interactive=False,
                wrap=True,
                elem_id="docqa-docs",
            )
            with gr.Row():
                del_pick = gr.Dropdown(choices=_doc_choices(h.service), label="Document", elem_id="docqa-delete-pick")
                del_btn = gr.Button("Delete from index", variant="stop", elem_id="docqa-delete")

        outs = [chat, box, cites, hits, turns, last, pick, rated, source]
        send.click(h.respond, [box, chat, filt, turns], outs, api_name="chat")
        box.submit(h.respond, [box, chat, filt, turns], outs, api_visibility="private")
        clear.click(
            lambda: ([], "", "", [], None, gr.update(choices=[], value=None), "", ""),
            None,
            [chat, cites, hits, turns, last, pick, rated, source],
            api_visibility="private",
        )
        open_btn.click(h.open_source, pick, source, api_visibility="private").then(None, js=SCROLL_JS)
        up.click(lambda a: h.rate(a, "up"), last, rated, api_visibility="private")
        down.click(lambda a: h.rate(a, "down"), last, rated, api_visibility="private")
        doc_outs = [status, table, filt, del_pick]
        add_btn.click(h.add_files, upload, doc_outs, api_visibility="private", concurrency_id="docs")
        del_btn.click(h.delete_doc, del_pick, doc_outs, api_visibility="private", concurrency_id="docs")
        docs_tab.select(h.refresh_docs, None, doc_outs, api_visibility="private")
        q_api = gr.Textbox(visible=False)
        out_api = gr.JSON(visible=False)
        q_api.submit(h.answer_json, q_api, out_api, api_name="answer")
    return demo


__all__ = ["CSS", "create_app"]
