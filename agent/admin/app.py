"""The admin application: authentication, error mapping, the routes and their documents."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from wallet.errors import (
    DuplicateRecord,
    InputError,
    KeyNotFound,
    MoiError,
    RecordNotFound,
    ResolutionError,
    StorageError,
    TooLargeError,
)

from ..errors import ConfigError, ProtocolError
from ..plugin import AGENT_KEY
from . import (
    routes_connections,
    routes_credentials,
    routes_events,
    routes_invitations,
    routes_mediation,
    routes_proofs,
)
from .openapi import Api, plugin_operation

log = logging.getLogger("moi.admin")

API = Api(title="moi agent admin API", version="1")
routes_invitations.register(API)
routes_connections.register(API)
routes_connections.register_rotation(API)
routes_events.register(API)
routes_mediation.register(API)
routes_credentials.register(API)
routes_proofs.register(API)

Middleware = Callable[
    [web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]],
    Awaitable[web.StreamResponse],
]


def _status(err: MoiError) -> int:
    if isinstance(err, RecordNotFound):
        return 404
    if isinstance(err, DuplicateRecord):
        return 409
    if isinstance(err, TooLargeError):
        return 413
    if isinstance(err, (InputError, ResolutionError, KeyNotFound, ProtocolError, ConfigError)):
        return 400
    if isinstance(err, StorageError):
        return 503
    return 400


def build_admin_app(agent: object) -> web.Application:
    key = getattr(agent, "admin_key", None)
    insecure = getattr(getattr(agent, "config", None), "insecure_admin", False)
    public = API.public_paths()

    @web.middleware
    async def errors(request: web.Request, handler: Callable) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400 and exc.content_type != "application/json":
                # A 405 must still say which methods the resource has (RFC 9110).
                allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
                return web.json_response({"error": exc.reason}, status=exc.status, headers=allow)
            raise
        except TimeoutError:
            return web.json_response({"error": "the peer did not answer in time"}, status=504)
        except MoiError as err:
            code = getattr(err, "problem_code", None)
            body = {"error": str(err)[:1000]}
            if code:
                body["code"] = code
            return web.json_response(body, status=_status(err))
        except Exception:  # the admin API's one catch-all: log it, never leak it
            log.exception("admin request %s %s failed", request.method, request.path)
            return web.json_response({"error": "internal error"}, status=500)

    @web.middleware
    async def auth(request: web.Request, handler: Callable) -> web.StreamResponse:
        route = request.match_info.route.resource
        path = route.canonical if route is not None else request.path
        if insecure or (request.method, path) in public:
            return await handler(request)
        given = request.headers.get("X-API-Key") or ""
        bearer = request.headers.get("Authorization", "")
        if not given and bearer.startswith("Bearer "):
            given = bearer[7:]
        if not key or not hmac.compare_digest(given.encode(), key.encode()):
            return web.json_response({"error": "missing or wrong API key"}, status=401)
        return await handler(request)

    app = web.Application(
        middlewares=[errors, auth],
        client_max_size=256 * 1024,
        # The document allows a 512-character connection label and a 512-character match in
        # one URL; percent-encoded, that can exceed aiohttp's 8 KiB request line, which would
        # be refused below the middleware with a plain-text 400.
        handler_args={"max_line_size": 32 * 1024},
    )
    app[AGENT_KEY] = agent
    API.mount(app, agent)
    # Plugins add their routes to the app; each route they add is listed in the document too.
    plugin_paths: dict[str, dict[str, Any]] = {}
    for plugin in getattr(getattr(agent, "registry", None), "plugins", {}).values():
        if plugin.routes is not None:
            before = set(app.router.routes())
            try:
                plugin.routes(app)
            except Exception as err:  # a plugin's broken routes must not stop the agent
                refused = f"{plugin.piuri}: its admin routes failed: {type(err).__name__}: {err}"
                log.warning("plugin routes refused: %s", refused)
                agent.registry.refused.append(refused)  # type: ignore[attr-defined]
            for route in app.router.routes():
                if route in before or route.method == "HEAD":
                    continue
                path = route.resource.canonical if route.resource is not None else ""
                operation = plugin_operation(plugin.title or plugin.piuri, route, path)
                plugin_paths.setdefault(path, {})[route.method.lower()] = operation

    async def doc(request: web.Request) -> web.Response:
        document = API.document(getattr(agent, "admin_url", None))
        for path, operations in plugin_paths.items():
            document["paths"].setdefault(path, {}).update(operations)
        return web.json_response(document)

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=API.html_page(), content_type="text/html")

    app.router.add_get("/api/doc", doc)
    app.router.add_get("/api/docs", page)
    public.update({("GET", "/api/doc"), ("GET", "/api/docs")})
    return app
