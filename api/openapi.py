"""The OpenAPI 3 description of the JSON API; each route adds its path here as it is built."""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}

PAGE_PARAMETERS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
]


def _page_of(item_ref: str) -> dict:
    return {
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": item_ref}},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "total": {"type": "integer"},
        },
    }


def _errors(*statuses: int) -> dict:
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {str(s): {"description": "error", **ref} for s in statuses}


def openapi_document() -> dict:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Cabdesk API", "version": "1"},
        "servers": [{"url": "/api"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": ERROR_SCHEMA,
                "Driver": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "call_sign": {"type": "string"},
                        "name": {"type": "string"},
                        "phone": {"type": "string"},
                        "status": {"type": "string", "enum": ["offline", "available", "busy", "break"]},
                        "active": {"type": "boolean"},
                    },
                },
            },
        },
        "paths": {
            "/drivers": {
                "get": {
                    "summary": "List drivers",
                    "parameters": [
                        *PAGE_PARAMETERS,
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["offline", "available", "busy", "break"]},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "a page of drivers",
                            "content": {"application/json": {"schema": _page_of("#/components/schemas/Driver")}},
                        },
                        **_errors(400, 401, 403),
                    },
                }
            }
        },
    }
