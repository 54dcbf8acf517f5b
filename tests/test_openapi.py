"""The OpenAPI document describes every API route there is, and only those."""

from __future__ import annotations

import re


def test_every_api_route_is_documented(app, client):
    document = client.get("/api/openapi.json").get_json()
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint == "api.openapi":
            continue
        path = re.sub(
            r"<(?:\w+:)?(\w+)>",
            lambda m: "{" + ("id" if m.group(1).endswith("id") else m.group(1)) + "}",
            rule.rule.removeprefix("/api"),
        )
        served |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served


def test_references_resolve(client):
    document = client.get("/api/openapi.json").get_json()
    refs = set(re.findall(r'"\$ref": "#/components/schemas/(\w+)"', str(document).replace("'", '"')))
    assert refs <= set(document["components"]["schemas"])
