"""Gradio chat UI over the ``qa`` API."""
