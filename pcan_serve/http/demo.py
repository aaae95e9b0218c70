"""The demo page at ``GET /`` (static HTML/CSS/JS from ``static/``, no build step, nothing fetched from other
hosts), and BentoML's Swagger UI moved to ``/docs``.

An ASGI middleware in front of the service: the three files are read once at import and answered from
memory, by exact path (no file system lookups per request, nothing a request can name). ``/docs`` is handed to
BentoML as its index route, whose page loads ``./static_content/...`` and ``./docs.json``: relative to ``/docs``
that is where BentoML serves them.
"""

from pathlib import Path
from typing import Any

from starlette.responses import RedirectResponse, Response

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".js": "text/javascript"}
# The page may talk to its own origin only, and read the chosen files as blob: URLs (video frames).
POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'"
)
ROUTES = {"/": "index.html", "/demo/demo.css": "demo.css", "/demo/demo.js": "demo.js"}


def _load() -> dict[str, tuple[bytes, str]]:
    return {route: ((STATIC / name).read_bytes(), MEDIA_TYPES[Path(name).suffix]) for route, name in ROUTES.items()}


class DemoPage:
    """ASGI middleware: GET/HEAD ``/`` and its assets from memory, ``/docs`` -> BentoML's Swagger UI."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.files = _load()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path = scope["path"]
            if path in self.files:
                body, media_type = self.files[path]
                headers = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff"}
                await Response(body, media_type=media_type, headers=headers)(scope, receive, send)
                return
            if path == "/docs/":
                await RedirectResponse("/docs")(scope, receive, send)
                return
            if path == "/docs":
                scope = {**scope, "path": "/", "raw_path": b"/"}
        await self.app(scope, receive, send)
