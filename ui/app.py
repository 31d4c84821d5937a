"""The Gradio chat: answers with highlighted spans, a citations panel and the retrieved passages."""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr

from qa.errors import QAError
from qa.pipeline import QA
from qa.settings import SEEDS_DIR
from ui.render import chat_message, citations_html, escape, hits_html

log = logging.getLogger(__name__)

CSS = """
.docqa-citation blockquote { white-space: pre-wrap; margin: .3em 0 1em 0; }
.docqa-sentence { background: #eef4ff; }
mark { background: #ffe066; padding: 0 2px; }
.docqa-hits td { vertical-align: top; font-size: 0.9em; }
.docqa-source { font-size: 0.9em; color: #444; }
"""

EXAMPLES = [
    "What is THAAD?",
    "Where will the drill be held?",
    "When will the drill be held?",
    "Who said the system threatens equilibrium on the Korean Peninsula?",
]


def create_app(service: QA, title: str = "DocQA: cited answers from your documents") -> gr.Blocks:
    """Build the Blocks app around a QA service (no logic here beyond calling and rendering)."""

    def ask(question: str) -> tuple[str, str, str, dict]:
        """One question -> (chat markdown, citations HTML, hits HTML, answer JSON)."""
        try:
            ans = service.answer(question)
        except QAError as exc:
            msg = f"⚠️ {escape(str(exc))}"
            return msg, "", "", {"question": question if isinstance(question, str) else "", "error": str(exc)}
        except Exception:  # never a stack trace in the page
            log.exception("answer failed")
            msg = "⚠️ Something went wrong while answering; the error was logged."
            return msg, "", "", {"error": "internal error"}
        return chat_message(ans), citations_html(ans), hits_html(ans.hits), ans.to_json()

    def respond(message: str, history: list[dict]) -> tuple[list[dict], str, str, str]:
        reply, cites, hits, _ = ask(message)
        shown = escape(message if isinstance(message, str) else "")[:2000]
        history = list(history or []) + [
            {"role": "user", "content": shown},
            {"role": "assistant", "content": reply},
        ]
        return history, "", cites, hits

    def answer_json(question: str) -> dict:
        return ask(question)[3]

    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"## {title}\nEvery answer is an exact span of a document, with its source.")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Chat", height=480, sanitize_html=True, elem_id="docqa-chat")
                box = gr.Textbox(
                    placeholder="Ask a question about the documents…", show_label=False, elem_id="docqa-question"
                )
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="docqa-ask")
                    clear = gr.Button("Clear")
                gr.Examples(EXAMPLES, inputs=box)
            with gr.Column(scale=2):
                gr.Markdown("### Citations")
                cites = gr.HTML(elem_id="docqa-citations")
        with gr.Accordion("Retrieved passages (BM25, dense and fused scores)", open=False):
            hits = gr.HTML(elem_id="docqa-hits")
        send.click(respond, [box, chat], [chat, box, cites, hits], api_name="chat")
        box.submit(respond, [box, chat], [chat, box, cites, hits], api_visibility="private")
        clear.click(lambda: ([], "", ""), None, [chat, cites, hits], api_visibility="private")
        q_api = gr.Textbox(visible=False)
        out_api = gr.JSON(visible=False)
        q_api.submit(answer_json, q_api, out_api, api_name="answer")
    return demo


def launch(
    corpus: str | Path = SEEDS_DIR,
    index_dir: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    **kwargs,
) -> None:
    """Load or build the index of ``corpus`` and serve the chat."""
    service = QA.from_corpus(corpus, index_dir, progress=True)
    demo = create_app(service)
    demo.queue(default_concurrency_limit=4, max_size=512)
    demo.launch(server_name=host, server_port=port, css=CSS, **kwargs)


if __name__ == "__main__":
    launch()
