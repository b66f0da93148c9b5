"""The API's contract: one error body for every 4xx and 5xx, the status codes each route can answer,
the bearer key, and `Allow` on 405 naming every method of the path. A client generated from the
OpenAPI document works (schemathesis checks it with every check, tests/e2e/test_serve_contract.py).

Routes declare the codes of their own (`responses=errors(404, 409)`); `document` adds what every
authenticated route can answer (400 for a body that is not JSON, 401, 403, 422)."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

PUBLIC = {"/healthz"}  # no key needed
WHY = {400: "the body could not be parsed (not JSON)", 401: "no API key, or an unknown or revoked one",
       403: "the key's role may not do this", 404: "no such resource", 405: "no such method on this path",
       409: "the resource's state does not allow it (it exists already, or is finished)",
       413: "the upload is over the size limit", 415: "the body's content-type is not one this route reads",
       422: "the input is wrong: each problem with the field path and the reason",
       503: "overloaded or restarting: retry after the seconds the Retry-After header says"}


class FieldProblem(BaseModel):
    path: str = Field(description="the field, dotted from the body, query or path: assets.0.charge_mw")
    reason: str


class ErrorBody(BaseModel):
    """Every error the API answers."""

    detail: str | list[FieldProblem] | dict = Field(
        description="why: a sentence, one entry per field problem, or an object with `reason` (and "
                    "`families` of an infeasible LP, `job` of a failed job)")
    request_id: str = Field(description="the X-Request-ID of the request, also in the audit log")


def errors(*codes: int) -> dict:
    """`responses=` of a route that can answer these error codes."""
    return {c: {"model": ErrorBody, "description": WHY[c]} for c in codes}


def _error_response(code: int) -> dict:
    return {"description": WHY[code], "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}


def document(app: FastAPI) -> dict:
    """The OpenAPI document: FastAPI's, with the common error codes on every route that needs a key,
    FastAPI's own validation-error schema replaced by ErrorBody, and the bearer key declared."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(body.pop("$defs"), ErrorBody=body)
    doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                       "description": "an API key: bess-ray keys create --role ROLE"}}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            codes = set() if path in PUBLIC else {401, 403, 422}
            if "requestBody" in op:
                codes.add(400)
            if "{" in path:
                codes.add(404)
            declared = {int(c) for c in responses if str(c).isdigit() and int(c) >= 400}
            for code in codes | declared:
                said = responses.get(str(code), {}).get("description")  # a route's own words stay
                responses[str(code)] = {**_error_response(code), **({"description": said} if said and code != 422 else {})}
            if path not in PUBLIC:
                op["security"] = [{"bearer": []}]
                # the key is the security scheme's, not a parameter of each operation
                op["parameters"] = [p for p in op.get("parameters", [])
                                    if not (p["in"] == "header" and p["name"].lower() == "authorization")]
                if not op["parameters"]:
                    del op["parameters"]
    app.openapi_schema = doc
    return doc


def allowed_methods(request: Request) -> str:
    """Every method some route of this path answers (a path can match several templates), for the
    Allow header of a 405."""
    path = request.url.path
    methods: set[str] = set()
    for route in _flat(request.app.routes):
        if route.path_regex.match(path):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


def _flat(routes):
    """The routes with a path and methods, inside included routers too (FastAPI >= 0.137 keeps an
    included router as one node; ours are included without a prefix, so their paths are whole)."""
    for route in routes:
        if getattr(route, "path_regex", None) is not None and getattr(route, "methods", None):
            yield route
        inner = getattr(route, "routes", None) or getattr(getattr(route, "original_router", None), "routes", None)
        if inner:
            yield from _flat(inner)
