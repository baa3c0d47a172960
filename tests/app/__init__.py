"""App tests: the tabs' handlers and the API through a running server (gradio_client), thread safety, serving."""
