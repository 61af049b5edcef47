"""The web UI (``nlu app``): Gradio tabs over the library."""
