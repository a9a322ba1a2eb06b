"""The OpenAPI document says what every route can answer, including what the app factory adds to all of them.

Routes declare their own errors (`cloud.errors.error_responses`). What no single route knows is added here,
once, from the frame every request passes through, so a schema fuzzer (tests/cloud/test_schema_fuzz.py)
finds the document and the answers in agreement:
- 401 on every route with a security scheme (`cloud.deps`), 403 on a register's (`register_revoked`);
- 400 (a body that is not UTF-8 JSON) and 413 (`cloud.body_limit`) on every route that takes a body;
- 422 as `ErrorBody`: FastAPI's field errors in `detail`, or a sentence when the service refuses a value
  (`InvalidInput`), both with `code`;
- `minimum`/`maximum` on integer parameters (`cloud.param_bounds`).
"""

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from cloud.errors import ErrorBody
from cloud.param_bounds import bounds_for

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_WHY = {
    400: "The body is not UTF-8 JSON",
    401: "Missing or unknown credential",
    403: "The credential may not do this (a revoked register: code `register_revoked`)",
    413: "The body is larger than this endpoint takes",
    422: "A field is invalid (`detail` lists FastAPI's field errors) or a value is refused (a sentence)",
}


# A route's `openapi_extra` marker: its security scheme is optional (POST /v1/enroll takes the old token of
# a register being enrolled again, and no token at all the first time).
AUTH_OPTIONAL = "x-echeck-auth-optional"


def _error(status: int) -> dict[str, Any]:
    return {"description": _WHY.get(status, "Error"), "content": {"application/json": {"schema": ERROR_REF}}}


def refine(doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}"))
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            if operation.pop(AUTH_OPTIONAL, False):  # a credential may be sent, none is required
                operation["security"] = [{}, *operation.get("security", [])]
            schemes = {name for requirement in operation.get("security", []) for name in requirement}
            wanted = []
            if schemes:
                wanted.append(401)
            if "RegisterToken" in schemes:
                wanted.append(403)
            if "requestBody" in operation:
                wanted += [400, 413]
            for status in wanted:
                responses.setdefault(str(status), _error(status))
            if "422" in responses:
                responses["422"] = _error(422)
            for param in operation.get("parameters", []):
                low, high = bounds_for(param.get("name", ""))
                schema = param.get("schema", {})
                for alternative in [schema, *schema.get("anyOf", [])]:
                    if alternative.get("type") == "integer":
                        alternative["maximum"] = min(alternative.get("maximum", high), high)
                        alternative["minimum"] = max(alternative.get("minimum", low), low)
    if "#/components/schemas/HTTPValidationError" not in json.dumps(doc.get("paths", {})):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return doc


def install(app: FastAPI) -> None:
    """Serve the refined document at /openapi.json (built once, on first request)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = refine(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
