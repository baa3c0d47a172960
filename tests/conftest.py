"""Fixtures the test groups share: the app module, a server running it, and a gradio_client on that server.

The groups: unit/ (one module at a time), families/ (each model family), app/ (the tabs and the API),
browser/ (headless Chromium, marked `browser`), house/ (the rules that keep the code and documents true).
"""
import pytest


@pytest.fixture(scope="session")
def gan_viz_app():
    """app.py imported once (it builds the whole demo): for tests that need the app, not for unit tests."""
    import app

    return app


@pytest.fixture(scope="module")
def server(gan_viz_app):
    """The app served on a free local port for one test module; its URL."""
    _, url, _ = gan_viz_app.demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True,
                                        quiet=True)
    yield url
    gan_viz_app.demo.close()


@pytest.fixture(scope="module")
def client(server):
    """A gradio_client on the module's server."""
    from gradio_client import Client

    return Client(server, verbose=False)
