"""The web UI and its REST API (``conveyor ui``): one FastAPI app over the metadata and
artifact stores the CLI uses. Every page of the UI is drawn in the browser from the JSON of
``/api/v1``; the assets (HTML, CSS, JavaScript modules) are files of this package, so nothing is
fetched from the internet.

Only this package and :mod:`conveyor.serve` import the web stack (FastAPI, Starlette, uvicorn).
"""

from conveyor.ui.app import UIConfig, create_app
from conveyor.ui.server import serve_ui

__all__ = ["UIConfig", "create_app", "serve_ui"]
