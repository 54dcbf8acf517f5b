"""The OpenAPI 3 description of the JSON API; each route adds its path here as it is built."""

from __future__ import annotations

STRING, INTEGER, NUMBER, BOOLEAN = ({"type": t} for t in ("string", "integer", "number", "boolean"))
DRIVER_STATUSES = ["offline", "available", "busy", "break"]
TIERS = ["platinum", "gold", "iron", "lead"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
FARE_AMOUNTS = ("flag_down", "per_km", "per_minute", "minimum_fare", "waiting_per_minute", "cancellation_fee")


def _object(properties: dict, required: list[str] | None = None) -> dict:
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _page_of(name: str) -> dict:
    return _object(
        {"items": {"type": "array", "items": _ref(name)}, "page": INTEGER, "per_page": INTEGER, "total": INTEGER},
        ["items", "page", "per_page", "total"],
    )


def _errors(*statuses: int) -> dict:
    return {str(s): _json(_ref("Error"), "error") for s in statuses}


def _nullable(schema: dict) -> dict:
    """An optional value that may also be given as null, which means the same as leaving it out."""
    if "$ref" in schema:
        return {"allOf": [schema], "nullable": True}
    # An enum lists every value allowed, null too (OpenAPI 3.0.3's reading of nullable).
    return schema | {"nullable": True} | ({"enum": [*schema["enum"], None]} if "enum" in schema else {})


def _closed(schema: dict) -> dict:
    """An object schema the API holds to: a property it does not know is refused."""
    return schema | {"additionalProperties": False}


def _query(name: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "schema": schema}


def _filter(name: str, schema: dict) -> dict:
    """A list's filter parameter: given empty (as a search form sends it), it filters nothing."""
    return _query(name, schema) | {"allowEmptyValue": True}


# Row ids are PostgreSQL integers.
MAX_ID = 2**31 - 1
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
PAGE_PARAMETERS = [
    _query("page", ID),
    _query("per_page", {"type": "integer", "minimum": 1, "maximum": 200}),
]
ID_PARAMETER = {"name": "id", "in": "path", "required": True, "schema": ID}

FARE_RULE_VALUES = {
    "vehicle_class": {"type": "string", "enum": ["sedan", "van", "premium"]},
    "name": {"type": "string", "minLength": 1, "maxLength": 120},
    "currency": {"type": "string", "minLength": 3, "maxLength": 3},
    **{money: {"type": "integer", "minimum": 0} for money in FARE_AMOUNTS},
    "rounding_step": {"type": "integer", "minimum": 1},
    "waiting_free_minutes": {"type": "integer", "minimum": 0, "maximum": 240},
    "speed_threshold_kmh": {"type": "number", "minimum": 0, "maximum": 200},
    "surcharges": {"type": "array", "items": _ref("Surcharge")},
    "fixed_fares": {"type": "array", "items": _ref("FixedFare")},
    "valid_from": _nullable({"type": "string", "format": "date-time", "description": "default: now"}),
}
FARE_RULE_REQUIRED = ["vehicle_class", "name", "currency", "flag_down", "per_km", "per_minute", "minimum_fare"]

SCHEMAS = {
    "Error": _object(
        {
            "error": _object(
                {"code": STRING, "message": STRING, "fields": {"type": "object", "additionalProperties": STRING}},
                ["code", "message"],
            )
        },
        ["error"],
    ),
    "Driver": _object(
        {
            "id": INTEGER,
            "call_sign": STRING,
            "name": STRING,
            "phone": STRING,
            "status": {"type": "string", "enum": DRIVER_STATUSES},
            "active": BOOLEAN,
            "language": STRING,
            "vehicle": {"type": "object", "nullable": True},
            "position": {"type": "object", "nullable": True, "properties": {"lat": NUMBER, "lon": NUMBER}},
            "last_seen_at": {"type": "string", "format": "date-time", "nullable": True},
        }
    ),
    "Address": _object(
        {
            "id": INTEGER,
            "label": STRING,
            "text": STRING,
            "unit": STRING,
            "landmark": STRING,
            "notes": STRING,
            "lat": NUMBER,
            "lon": NUMBER,
            "zone_id": {"type": "integer", "nullable": True},
        }
    ),
    "NewAddress": _closed(
        _object(
            {
                "label": {"type": "string", "maxLength": 60},
                "text": {"type": "string", "maxLength": 500},
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lon": {"type": "number", "minimum": -180, "maximum": 180},
                "notes": _nullable({"type": "string", "maxLength": 500}),
                "unit": _nullable({"type": "string", "maxLength": 60}),
                "landmark": _nullable({"type": "string", "maxLength": 200}),
            },
            ["label", "text", "lat", "lon"],
        )
    ),
    "Subscriber": _object(
        {
            "id": INTEGER,
            "name": STRING,
            "phones": {"type": "array", "items": STRING},
            "language": {"type": "string", "enum": ["fa", "en"]},
            "notes": STRING,
            "tier": {"type": "string", "enum": TIERS},
            "barred": BOOLEAN,
            "barred_reason": STRING,
            "sms_opt_out": BOOLEAN,
            "feedback_channel": {"type": "string", "enum": ["sms", "ivr", "none"]},
            "no_show_count": INTEGER,
            "addresses": {"type": "array", "items": _ref("Address")},
            "created_at": {"type": "string", "format": "date-time"},
        }
    ),
    "Point": _object({"lat": {"type": "number"}, "lon": {"type": "number"}, "address_id": INTEGER, "text": STRING}),
    "QuoteRequest": _object(
        {
            "pickup": _ref("Point"),
            "dropoff": _ref("Point"),
            "vehicle_class": {"type": "string", "enum": ["sedan", "van", "premium"]},
            "pickup_at": _nullable({"type": "string", "format": "date-time"}),
            "subscriber_id": _nullable(INTEGER),
        },
        ["pickup", "dropoff"],
    ),
    "Quote": _object(
        {
            "fare": INTEGER,
            "currency": STRING,
            "distance_km": NUMBER,
            "duration_min": NUMBER,
            "breakdown": {"type": "array", "items": _object({"label": STRING, "amount": INTEGER})},
        }
    ),
    "Surcharge": _closed(
        _object(
            {
                "kind": {"type": "string", "enum": ["night", "rush", "holiday", "zone"]},
                "from": {"type": "string", "pattern": "^\\d{2}:\\d{2}$"},
                "to": {"type": "string", "pattern": "^\\d{2}:\\d{2}$"},
                "days": {"type": "array", "items": {"type": "string", "enum": WEEKDAYS}},
                "percent": {"type": "number", "minimum": 0, "maximum": 300},
                "zone": STRING,
                "amount": {"type": "integer", "minimum": 1},
            },
            ["kind"],
        )
    ),
    "FixedFare": _closed(
        _object(
            {
                "from_zone": {"type": "string", "description": "zone code"},
                "to_zone": {"type": "string", "description": "zone code"},
                "amount": {"type": "integer", "minimum": 1},
                "both_ways": {"type": "boolean", "default": True},
            },
            ["from_zone", "to_zone", "amount"],
        )
    ),
    "NewFareRule": _closed(_object(FARE_RULE_VALUES, FARE_RULE_REQUIRED)),
    # NewFareRule's values and the version's own; not an allOf, which the closed NewFareRule would refuse.
    "FareRule": _object(
        {
            **FARE_RULE_VALUES,
            "id": INTEGER,
            "version": INTEGER,
            "valid_to": {"type": "string", "format": "date-time", "nullable": True},
            "current": BOOLEAN,
            "created_at": {"type": "string", "format": "date-time"},
            "created_by_id": {"type": "integer", "nullable": True},
        },
        FARE_RULE_REQUIRED,
    ),
    "NewSubscriber": _object(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "phones": {"type": "array", "items": STRING, "minItems": 1},
            "language": _nullable({"type": "string", "enum": ["fa", "en"]}),
            "notes": _nullable({"type": "string", "maxLength": 2000}),
        },
        ["name", "phones"],
    ),
}

PATHS = {
    "/quotes": {
        "post": {
            "summary": "Quote a trip's fare",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("QuoteRequest")}}},
            "responses": {"200": _json(_ref("Quote"), "the fare and its breakdown"), **_errors(400, 401, 403)},
        }
    },
    "/fare-rules": {
        "get": {
            "summary": "List fare rule versions, by class then newest first",
            "parameters": [
                *PAGE_PARAMETERS,
                _query("vehicle_class", {"type": "string", "enum": ["sedan", "van", "premium"]}),
                _query("current", {"type": "boolean"}),
            ],
            "responses": {"200": _json(_page_of("FareRule"), "a page of fare rule versions"), **_errors(400, 401, 403)},
        },
        "post": {
            "summary": "Publish a new version of a class's fare rule (admins)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewFareRule")}}},
            "responses": {"201": _json(_ref("FareRule"), "the new version"), **_errors(400, 401, 403, 409)},
        },
    },
    "/fare-rules/{id}": {
        "get": {
            "summary": "One fare rule version",
            "parameters": [ID_PARAMETER],
            "responses": {"200": _json(_ref("FareRule"), "the version"), **_errors(401, 403, 404)},
        }
    },
    "/drivers": {
        "get": {
            "summary": "List drivers",
            "parameters": [*PAGE_PARAMETERS, _filter("status", {"type": "string", "enum": DRIVER_STATUSES})],
            "responses": {"200": _json(_page_of("Driver"), "a page of drivers"), **_errors(400, 401, 403)},
        }
    },
    "/subscribers": {
        "get": {
            "summary": "Find subscribers by phone (any spelling), by any part of name/number/address, by tier",
            "parameters": [
                *PAGE_PARAMETERS,
                _query("phone", STRING),
                _query("q", STRING),
                _query("tier", {"type": "string", "enum": TIERS}),
            ],
            "responses": {"200": _json(_page_of("Subscriber"), "a page of subscribers"), **_errors(400, 401, 403)},
        },
        "post": {
            "summary": "Add a subscriber",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewSubscriber")}}},
            "responses": {"201": _json(_ref("Subscriber"), "the new subscriber"), **_errors(400, 401, 403, 409)},
        },
    },
    "/subscribers/{id}": {
        "get": {
            "summary": "One subscriber",
            "parameters": [ID_PARAMETER],
            "responses": {"200": _json(_ref("Subscriber"), "the subscriber"), **_errors(401, 403, 404)},
        }
    },
    "/subscribers/{id}/addresses": {
        "post": {
            "summary": "Save an address for a subscriber",
            "parameters": [ID_PARAMETER],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewAddress")}}},
            "responses": {"201": _json(_ref("Address"), "the saved address"), **_errors(400, 401, 403, 404)},
        }
    },
}


def openapi_document() -> dict:
    """The whole OpenAPI document."""
    from api import openapi_dispatch, openapi_feedback

    schemas = SCHEMAS | openapi_dispatch.SCHEMAS | openapi_feedback.SCHEMAS
    paths = PATHS | openapi_dispatch.PATHS | openapi_feedback.PATHS
    paths["/drivers"] = PATHS["/drivers"] | {"post": openapi_dispatch.NEW_DRIVER}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Cabdesk API", "version": "1"},
        "servers": [{"url": "/api"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": schemas},
        "paths": paths,
    }
