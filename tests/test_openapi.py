"""The checked-in OpenAPI document and the extension's route table describe the same API."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import yaml

from jupyter_mltf.extension import ROUTES

METHODS = {"get", "post", "put", "patch", "delete"}


def _spec() -> dict[str, Any]:
    text = resources.files("jupyter_mltf").joinpath("openapi.yaml").read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    assert isinstance(spec, dict)
    return spec


def _route_as_openapi(pattern: str) -> str:
    """'/mltf/api/jobs/(?P<job_id>[...]+)/log' -> '/mltf/api/jobs/{job_id}/log'."""
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)


def _handler_methods(handler: type) -> set[str]:
    return {m for m in METHODS if m in vars(handler)}


def test_every_route_is_documented_and_vice_versa() -> None:
    spec = _spec()
    routes = {_route_as_openapi(pattern): handler for pattern, handler in ROUTES}
    assert set(routes) == set(spec["paths"])
    for path, handler in routes.items():
        documented = set(spec["paths"][path]) & METHODS
        assert documented == _handler_methods(handler), path


def test_is_openapi_3_1_with_valid_schemas() -> None:
    from jsonschema import Draft202012Validator

    spec = _spec()
    assert spec["openapi"].startswith("3.1")
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_reference_resolves() -> None:
    spec = _spec()
    text = yaml.safe_dump(spec)
    for ref in set(re.findall(r"\$ref: '?#/([\w/]+)'?", text)):
        node: Any = spec
        for part in ref.split("/"):
            node = node[part]
        assert node, ref


def test_every_operation_documents_its_errors() -> None:
    spec = _spec()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            assert op.get("operationId"), (path, method)
            assert "403" in op["responses"], (path, method)  # every endpoint is authenticated
            assert "default" in op["responses"], (path, method)  # the generic 500
            if method == "post":
                assert {"400", "422"} <= set(op["responses"]), (path, method)
