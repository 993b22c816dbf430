"""Admin routes declared once: the aiohttp route and its OpenAPI 3.1 operation come from the
same declaration, so the document covers every route by construction.

Request bodies and query parameters are validated against the declared schema subset
(types, required, enums, bounds) before a handler runs; a handler receives clean values.
"""

from __future__ import annotations

import html
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from wallet.encoding import loads_strict
from wallet.errors import InputError

Handler = Callable[..., Awaitable[Any]]
MAX_BODY = 256 * 1024

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
    "required": ["error"],
}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: Mapping[str, Any]
    where: str = "query"  # or "path"
    required: bool = False
    description: str = ""


#: A string parameter with no declared bound gets this one: what the document allows must
#: fit the server's request line even percent-encoded (512 characters, at most ~6 KiB).
DEFAULT_MAX_LENGTH = 512


def _bounded(param: Param) -> Param:
    if param.schema.get("type") == "string" and "maxLength" not in param.schema:
        return Param(
            param.name,
            {**param.schema, "maxLength": DEFAULT_MAX_LENGTH},
            param.where,
            param.required,
            param.description,
        )
    return param


@dataclass(slots=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    params: Sequence[Param] = ()
    body: Mapping[str, Any] | None = None
    response: Mapping[str, Any] | None = None
    status: int = 200
    content_type: str = "application/json"
    errors: Sequence[int] = (400, 401)
    public: bool = False


@dataclass
class Api:
    title: str
    version: str
    operations: list[Operation] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        params: Sequence[Param] = (),
        body: Mapping[str, Any] | None = None,
        response: Mapping[str, Any] | None = None,
        status: int = 200,
        content_type: str = "application/json",
        errors: Sequence[int] = (400, 401),
        public: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(
                Operation(
                    method,
                    path,
                    handler,
                    summary,
                    tag,
                    tuple(_bounded(p) for p in params),
                    body,
                    response,
                    status,
                    content_type,
                    errors,
                    public,
                )
            )
            return handler

        return register

    def mount(self, app: web.Application, context: Any) -> None:
        for op in self.operations:
            app.router.add_route(op.method, op.path, _wrap(op, context))

    def public_paths(self) -> set[tuple[str, str]]:
        return {(op.method, op.path) for op in self.operations if op.public}

    def document(self, server_url: str | None = None) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            operation: dict[str, Any] = {
                "summary": op.summary,
                "tags": [op.tag],
                "operationId": _operation_id(op),
                "responses": {},
            }
            if op.params:
                operation["parameters"] = [
                    {
                        "name": p.name,
                        "in": p.where,
                        "required": p.required or p.where == "path",
                        "schema": dict(p.schema),
                        **({"description": p.description} if p.description else {}),
                    }
                    for p in op.params
                ]
            if op.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": dict(op.body)}},
                }
            if op.status == 204:
                operation["responses"]["204"] = {"description": "done"}
            else:
                schema = dict(op.response) if op.response is not None else {}
                operation["responses"][str(op.status)] = {
                    "description": "success",
                    "content": {op.content_type: {"schema": schema}},
                }
            # Every body is bounded (the app's client_max_size): say so where one is taken.
            codes = [*op.errors, 413] if op.body is not None and 413 not in op.errors else op.errors
            for code in codes:
                operation["responses"][str(code)] = {
                    "description": _ERROR_TEXT.get(code, "error"),
                    "content": {"application/json": {"schema": ERROR}},
                }
            if op.public:
                operation["security"] = []
            paths.setdefault(op.path, {})[op.method.lower()] = operation
        doc: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
            "components": {
                "securitySchemes": {
                    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
                }
            },
            "security": [{"ApiKey": []}],
        }
        if server_url:
            doc["servers"] = [{"url": server_url}]
        return doc

    def html_page(self) -> str:
        """A readable page of the API, rendered here: no script, nothing fetched."""
        rows = []
        for op in sorted(self.operations, key=lambda o: (o.tag, o.path, o.method)):
            params = ", ".join(p.name for p in op.params if p.where == "query")
            body = ""
            if op.body is not None:
                body = f"<div class=body>body: {html.escape(_schema_text(op.body))}</div>"
            rows.append(
                f"<tr><td>{html.escape(op.tag)}</td><td class=m>{op.method}</td>"
                f"<td><code>{html.escape(op.path)}</code>"
                f"{'<div class=q>?' + html.escape(params) + '</div>' if params else ''}</td>"
                f"<td>{html.escape(op.summary)}{body}</td></tr>"
            )
        return _PAGE.format(title=html.escape(self.title), rows="\n".join(rows))


_ERROR_TEXT = {
    400: "bad request",
    401: "missing or wrong API key",
    404: "not found",
    409: "conflict",
    413: "body too large",
    504: "the peer did not answer in time",
}

_PAGE = """<!doctype html><html><head><meta charset=utf-8><title>{title}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse}}
td{{border-bottom:1px solid #ddd;padding:.4em .8em;vertical-align:top}}
.m{{font-weight:bold}}.q,.body{{color:#666;font-size:12px}}</style></head>
<body><h1>{title}</h1><p>Send the API key in the <code>X-API-Key</code> header.
The machine-readable document is at <a href="/api/doc">/api/doc</a>.</p>
<table>{rows}</table></body></html>"""


def _schema_text(schema: Mapping[str, Any]) -> str:
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    return ", ".join(f"{name}{'' if name in required else '?'}" for name in props)


def plugin_operation(tag: str, route: web.AbstractRoute, path: str) -> dict[str, Any]:
    """The document's entry for a route a plugin added directly to the app: its summary from
    the handler's docstring, its path parameters, and whatever status the plugin answers."""
    doc = inspect.getdoc(route.handler) or ""
    summary = doc.splitlines()[0] if doc else f"{route.method} {path}"
    names = re.findall(r"\{([^}:]+)(?::[^}]*)?\}", path)
    words = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    operation: dict[str, Any] = {
        "summary": summary[:200],
        "tags": [tag],
        "operationId": f"plugin_{route.method.lower()}_{words or 'root'}",
        "responses": {"default": {"description": "as the plugin answers (see its documentation)"}},
    }
    if names:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in names
        ]
    return operation


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[{}]", "", op.path).strip("/").replace("/", "_").replace("-", "_")
    return f"{op.method.lower()}_{words or 'root'}"


# -- validation of the declared subset --------------------------------------------------------


def check(value: Any, schema: Mapping[str, Any], where: str) -> Any:
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            raise InputError(f"{where} must be a JSON object")
        props = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise InputError(f"{where}: '{name}' is required")
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(props)
            if extra:
                raise InputError(f"{where}: unknown field '{sorted(extra)[0][:40]}'")
        return {
            k: check(v, props[k], f"{where}.{k}") if k in props else v for k, v in value.items()
        }
    if kind == "string":
        if not isinstance(value, str):
            raise InputError(f"{where} must be a string")
        if len(value) > schema.get("maxLength", 1 << 20) or len(value) < schema.get("minLength", 0):
            raise InputError(f"{where} has the wrong length")
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            raise InputError(f"{where} does not have the expected form")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where} must be an integer")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where} must be a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise InputError(f"{where} must be true or false")
    elif kind == "array":
        if not isinstance(value, list):
            raise InputError(f"{where} must be a list")
        if len(value) > schema.get("maxItems", 1000):
            raise InputError(f"{where} has too many items")
        return [check(v, schema.get("items", {}), f"{where}[]") for v in value]
    if "enum" in schema and value not in schema["enum"]:
        raise InputError(f"{where} must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise InputError(f"{where} must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise InputError(f"{where} must be at most {schema['maximum']}")
    return value


def _query_value(raw: str, schema: Mapping[str, Any], where: str) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer":
            return check(int(raw), schema, where)
        if kind == "number":
            return check(float(raw), schema, where)
        if kind == "boolean":
            if raw not in ("true", "false"):
                raise InputError(f"{where} must be true or false")
            return raw == "true"
    except ValueError:
        raise InputError(f"{where} must be a {kind}") from None
    return check(raw, schema, where)


def _wrap(op: Operation, context: Any) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = {}
        for p in op.params:
            if p.where == "path":
                kwargs[p.name] = _query_value(
                    request.match_info[p.name], p.schema, f"path '{p.name}'"
                )
            elif p.name in request.query:
                kwargs[p.name] = _query_value(request.query[p.name], p.schema, f"query '{p.name}'")
            elif p.required:
                raise InputError(f"query parameter '{p.name}' is required")
        if op.body is not None:
            raw = await request.content.read(MAX_BODY + 1)
            if len(raw) > MAX_BODY:
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(raw))
            kwargs["body"] = check(
                loads_strict(raw or b"null", what="request body"), op.body, "body"
            )
        result = await op.handler(context, request, **kwargs)
        if isinstance(result, web.StreamResponse):
            return result
        if op.status == 204:
            return web.Response(status=204)
        return web.json_response(result, status=op.status)

    return handle
