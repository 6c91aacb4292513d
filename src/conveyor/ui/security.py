"""Who may call the UI server, and from where.

- **Loopback by default.** A server bound to loopback answers only requests naming a loopback
  host (``Host: 127.0.0.1:8080``, ``localhost``, ``[::1]``): a web page on another site that
  rebinds its DNS name to 127.0.0.1 is refused.
- **A token** (``--token`` / ``CONVEYOR_UI_TOKEN``), required when binding elsewhere unless the
  user passes ``--insecure``: every request but ``/healthz`` carries it, as
  ``Authorization: Bearer TOKEN`` (API clients) or the ``conveyor_ui_token`` cookie that
  ``GET /login?token=TOKEN`` sets for a browser (HttpOnly, SameSite=Strict).
- **Cross-site requests.** Every request that changes something (anything but GET, HEAD and
  OPTIONS) must carry the header ``X-Conveyor-CSRF``, equal to the ``conveyor_csrf`` cookie
  when the client has it (the UI's pages send it; an API client without cookies sends any
  value): another site can neither read the cookie nor send a custom header without a CORS
  preflight, which this server never grants. When the browser sends ``Origin``, it must name
  this server's host.
- **Headers.** ``Server-Timing: app;dur=MS`` (the server's own time, read by ``bench/ui.py``);
  a Content-Security-Policy that allows only this server's own scripts and styles
  (no CDN, no inline script), ``frame-ancestors 'none'``, ``nosniff``, no referrer.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "TOKEN_COOKIE",
    "Guard",
    "is_loopback_host",
]

TOKEN_COOKIE = "conveyor_ui_token"
CSRF_COOKIE = "conveyor_csrf"
CSRF_HEADER = "x-conveyor-csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
"""Own scripts only (no inline script); inline styles are allowed because the artifact views
(statistics, model cards) carry their own ``<style>``; ``frame-src 'self'`` lets the UI show
those views in a sandboxed frame."""


def is_loopback_host(host: str) -> bool:
    """Whether a bind address or ``Host`` header value (without port) is loopback."""
    host = host.strip().lower()
    return host in _LOOPBACK_NAMES or host.startswith("127.")


def _host_name(header: str) -> str:
    """``127.0.0.1:8080`` -> ``127.0.0.1``; ``[::1]:8080`` -> ``[::1]``."""
    if header.startswith("["):
        return header.partition("]")[0] + "]"
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def _refuse(status: int, message: str, fix: str) -> Response:
    return JSONResponse({"error": message, "fix": fix}, status_code=status)


class Guard:
    """The HTTP middleware enforcing the rules above (one per server)."""

    def __init__(self, *, token: str | None, loopback: bool) -> None:
        self.token = token
        self.loopback = loopback

    def _token_ok(self, request: Request) -> bool:
        if self.token is None:
            return True
        given = request.cookies.get(TOKEN_COOKIE, "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        host = _host_name(request.headers.get("host", ""))
        if self.loopback and not is_loopback_host(host):
            return _refuse(
                421,
                f"this server listens on loopback and answers only loopback host names, not "
                f"{host!r}",
                "open it as http://127.0.0.1:PORT/ or http://localhost:PORT/",
            )
        path = request.url.path
        if path == "/healthz":
            return Response("ok", media_type="text/plain")
        if path == "/login" and self.token is not None:
            return self._login(request)
        if not self._token_ok(request):
            return _refuse(
                401,
                "this server needs its token",
                "open /login?token=TOKEN in the browser, or send 'Authorization: Bearer TOKEN'",
            )
        if request.method not in _SAFE_METHODS:
            refusal = self._cross_site(request, host)
            if refusal is not None:
                return refusal
        response = await call_next(request)
        # the server's own time for this request (the UI benchmark reads it)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1e3:.2f}"
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("X-Frame-Options", "DENY")
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(
                CSRF_COOKIE, secrets.token_urlsafe(24), samesite="strict", httponly=False
            )
        return response

    def _cross_site(self, request: Request, host: str) -> Response | None:
        origin = request.headers.get("origin")
        if origin is not None and origin != "null":
            origin_host = urlsplit(origin).netloc
            if origin_host.lower() != request.headers.get("host", "").lower():
                return _refuse(
                    403,
                    f"a cross-site request from {origin!r} was refused",
                    "send actions from this server's own pages or from an API client",
                )
        elif origin == "null":
            return _refuse(403, "a request from an opaque origin was refused", "use the UI")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        header = request.headers.get(CSRF_HEADER, "")
        if not header or (cookie and not hmac.compare_digest(cookie.encode(), header.encode())):
            return _refuse(
                403,
                "the request has no valid X-Conveyor-CSRF header",
                "send the X-Conveyor-CSRF header, with the value of the conveyor_csrf cookie "
                "when the client keeps cookies",
            )
        del host
        return None

    def _login(self, request: Request) -> Response:
        given = request.query_params.get("token", "")
        assert self.token is not None
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return _refuse(401, "wrong token", "copy the token the server was started with")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
        return response
