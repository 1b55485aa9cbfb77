"""Dashboard sessions and CSRF protection, shared by every dashboard page and form.

* The session cookie (``syncline_session``: HttpOnly, SameSite=Strict, Secure over HTTPS,
  path ``/ui``) holds a random session id, never an API token; the row in ``ui_sessions``
  holds the workspace, the token id, the role and the session's CSRF secret.
* :func:`current_session` is the dependency of every page: it loads the session (else the
  handler redirects to the login page) and checks the role against the route like the API.
* Forms carry :func:`csrf_token` in a hidden ``csrf_token`` field; handlers call
  :func:`verify_csrf`. With a session the token is the session's secret; before login (the
  login form) it is a double submit: a random nonce in a ``syncline_login_csrf`` cookie and
  the same nonce signed with itsdangerous in the form. Posts whose ``Origin`` (or
  ``Sec-Fetch-Site``) says they come from another site are refused either way.
* What a dashboard form changes lands in the audit trail under the session's token, with
  channel ``ui`` (services/audit.py records nothing for a session without an actor).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from syncline.api.deps import SessionDep, enforce_role
from syncline.context import AppContext
from syncline.security.roles import READ_METHODS
from syncline.services.audit import set_session_actor
from syncline.services.ui_sessions import LiveSession, find_session
from syncline.store.tables import ApiToken

COOKIE = "syncline_session"
LOGIN_CSRF_COOKIE = "syncline_login_csrf"
CSRF_FIELD = "csrf_token"
LOGIN_CSRF_MAX_AGE = 3600


class LoginRequired(Exception):
    """No live session: the handler redirects to the login page."""


class CsrfError(HTTPException):
    """A form post without a valid CSRF token, or from another origin: 403."""

    def __init__(self) -> None:
        super().__init__(status_code=403, detail="CSRF check failed: reload the page and retry")


def current_session(request: Request, session: SessionDep) -> LiveSession:
    """The live dashboard session of this request (LoginRequired otherwise), role-checked."""
    live = find_session(session, session_id=request.cookies.get(COOKIE, "").strip())
    if live is None:
        raise LoginRequired()
    enforce_role(request, live.role)
    request.state.ui_session = live
    if request.method not in READ_METHODS:  # what a form changes is audited as the token's
        token = session.get(ApiToken, live.token_id)
        if token is not None:
            set_session_actor(session, token, channel="ui")
    return live


UiSessionDep = Annotated[LiveSession, Depends(current_session)]


def _serializer(ctx: AppContext) -> URLSafeTimedSerializer:
    key = hmac.new(ctx.token_pepper, b"syncline ui login csrf", hashlib.sha256).hexdigest()
    return URLSafeTimedSerializer(key, salt="login-csrf")


def csrf_token(request: Request) -> str:
    """The value of the hidden ``csrf_token`` field for a form on this request's page.

    Before login, remember to call :func:`set_login_csrf_cookie` on the response.
    """
    live: LiveSession | None = getattr(request.state, "ui_session", None)
    if live is not None:
        return live.csrf_secret
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE) or getattr(request.state, "login_nonce", None)
    if not nonce:
        nonce = secrets.token_urlsafe(32)
        request.state.login_nonce = nonce
    ctx: AppContext = request.app.state.ctx
    return str(_serializer(ctx).dumps(nonce))


def set_login_csrf_cookie(request: Request, response: Response) -> None:
    """Send the pre-session nonce cookie that :func:`csrf_token` made up, if it made one."""
    nonce = getattr(request.state, "login_nonce", None)
    if nonce:
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            nonce,
            max_age=LOGIN_CSRF_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/ui",
        )


async def read_form(request: Request) -> dict[str, str]:
    """The url-encoded form of a post, first value of each field."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    return {key: values[0] for key, values in form.items() if values}


def _cross_site(request: Request) -> bool:
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    host = request.headers.get("host", "")
    return origin == "null" or urlsplit(origin).netloc.lower() != host.lower()


def verify_csrf(request: Request, form: dict[str, str], ctx: AppContext) -> None:
    """Raise :class:`CsrfError` unless ``form`` carries this page's CSRF token, same-origin."""
    if _cross_site(request):
        raise CsrfError()
    sent = form.get(CSRF_FIELD, "")
    live: LiveSession | None = getattr(request.state, "ui_session", None)
    if live is not None:
        if not hmac.compare_digest(sent.encode(), live.csrf_secret.encode()):
            raise CsrfError()
        return
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    try:
        signed = _serializer(ctx).loads(sent, max_age=LOGIN_CSRF_MAX_AGE)
    except BadSignature:
        raise CsrfError() from None
    if not cookie or not hmac.compare_digest(str(signed).encode(), cookie.encode()):
        raise CsrfError()
