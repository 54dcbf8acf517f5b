"""The OpenAPI description of the dispatch routes: bookings, drivers' own state, offers."""

from __future__ import annotations

from api.openapi import (
    BOOLEAN,
    DRIVER_STATUSES,
    ID,
    ID_PARAMETER,
    INTEGER,
    NUMBER,
    PAGE_PARAMETERS,
    STRING,
    _errors,
    _filter,
    _json,
    _nullable,
    _object,
    _page_of,
    _ref,
)

BOOKING_STATUSES = [
    "requested",
    "scheduled",
    "offered",
    "assigned",
    "arrived",
    "on_trip",
    "completed",
    "cancelled",
    "no_show",
]
NULLABLE_INTEGER = {"type": "integer", "nullable": True}
MOMENT = {"type": "string", "format": "date-time"}
NULLABLE_MOMENT = {"type": "string", "format": "date-time", "nullable": True}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


PLACE = _object(
    {"lat": NUMBER, "lon": NUMBER, "text": STRING, "address_id": NULLABLE_INTEGER, "zone_id": NULLABLE_INTEGER}
)

SCHEMAS = {
    "Place": PLACE,
    "Booking": _object(
        {
            "id": INTEGER,
            "status": {"type": "string", "enum": BOOKING_STATUSES},
            "subscriber_id": NULLABLE_INTEGER,
            "phone": STRING,
            "pickup": _ref("Place"),
            "dropoff": {"allOf": [_ref("Place")], "nullable": True},
            "pickup_at": MOMENT,
            "vehicle_class": STRING,
            "notes": STRING,
            "fare": NULLABLE_INTEGER,
            "currency": STRING,
            "breakdown": {"type": "array", "items": _object({"label": STRING, "amount": INTEGER})},
            "distance_km": {"type": "number", "nullable": True},
            "duration_min": {"type": "number", "nullable": True},
            "driver_id": NULLABLE_INTEGER,
            "auto_dispatch": BOOLEAN,
            "waiting_min": NUMBER,
            "cancel_reason": STRING,
            "cancellation_fee": INTEGER,
            "version": INTEGER,
            "created_at": MOMENT,
            "assigned_at": NULLABLE_MOMENT,
            "completed_at": NULLABLE_MOMENT,
        }
    ),
    "NewBooking": _object(
        {
            "phone": _nullable({**STRING, "description": "may be null when subscriber_id is given"}),
            "subscriber_id": _nullable(INTEGER),
            "pickup": _ref("Point"),
            "dropoff": _nullable(_ref("Point")),
            "pickup_at": _nullable(MOMENT),
            "vehicle_class": {"type": "string", "enum": ["sedan", "van", "premium"]},
            "notes": {"type": "string", "maxLength": 2000},
            "call_id": _nullable(INTEGER),
        },
        ["pickup"],
    ),
    "BookingEvent": _object(
        {
            "from": {"type": "string", "nullable": True},
            "to": STRING,
            "at": MOMENT,
            "user_id": NULLABLE_INTEGER,
            "driver_id": NULLABLE_INTEGER,
            "reason": STRING,
        }
    ),
    "NewDriver": _object(
        {
            "call_sign": STRING,
            "name": STRING,
            "phone": STRING,
            "pin": {"type": "string", "pattern": "^[0-9]{4,8}$"},
            "language": {"type": "string", "enum": ["fa", "en"]},
            "vehicle": _nullable(
                _object(
                    {
                        "plate": {"type": "string", "minLength": 1, "maxLength": 32},
                        "make_model": _nullable(STRING),
                        "colour": _nullable(STRING),
                        "vehicle_class": _nullable({"type": "string", "enum": ["sedan", "van", "premium"]}),
                    },
                    ["plate"],
                )
            ),
        },
        ["call_sign", "name", "phone", "pin"],
    ),
    "Offer": _object(
        {
            "id": INTEGER,
            "outcome": {"type": "string", "enum": ["pending", "accepted", "declined", "expired", "withdrawn"]},
            "offered_at": MOMENT,
            "expires_at": MOMENT,
            "eta_min": {"type": "number", "nullable": True},
            "booking": _ref("Booking"),
        }
    ),
    "DriverState": _object(
        {
            "driver": _ref("Driver"),
            "offer": {"allOf": [_ref("Offer")], "nullable": True},
            "job": {"allOf": [_ref("Booking")], "nullable": True},
            "queue": {"type": "object", "nullable": True, "properties": {"zone_id": INTEGER, "position": INTEGER}},
            "offers": {"type": "object", "additionalProperties": INTEGER},
        }
    ),
}

_BOOKING = {"200": _json(_ref("Booking"), "the booking")}
_STATE = {"200": _json(_ref("DriverState"), "the driver's state")}

PATHS = {
    "/bookings": {
        "get": {
            "summary": "List bookings, newest first",
            "parameters": [
                *PAGE_PARAMETERS,
                _filter("status", {"type": "string", "enum": BOOKING_STATUSES}),
                _filter("driver_id", ID),
                _filter("subscriber_id", ID),
            ],
            "responses": {"200": _json(_page_of("Booking"), "a page of bookings"), **_errors(400, 401, 403)},
        },
        "post": {
            "summary": "Take a booking (quoted; a pickup later than the lead time is a pre-booking)",
            "requestBody": _body(_ref("NewBooking")),
            "responses": {"201": _json(_ref("Booking"), "the new booking"), **_errors(400, 401, 403, 409)},
        },
    },
    "/bookings/{id}": {
        "get": {
            "summary": "One booking",
            "parameters": [ID_PARAMETER],
            "responses": {**_BOOKING, **_errors(401, 403, 404)},
        }
    },
    "/bookings/{id}/events": {
        "get": {
            "summary": "A booking's history",
            "parameters": [ID_PARAMETER],
            "responses": {
                "200": _json(_object({"items": {"type": "array", "items": _ref("BookingEvent")}}), "the events"),
                **_errors(401, 403, 404),
            },
        }
    },
    "/bookings/{id}/dispatch": {
        "post": {
            "summary": "Auto-dispatch now: offer to the best driver (409 if not waiting or nobody fits)",
            "parameters": [ID_PARAMETER],
            "responses": {**_BOOKING, **_errors(401, 403, 404, 409)},
        }
    },
    "/bookings/{id}/assign": {
        "post": {
            "summary": "Assign (or reassign) to a driver",
            "parameters": [ID_PARAMETER],
            "requestBody": _body(
                _object(
                    {"driver_id": INTEGER, "reason": _nullable(STRING), "version": _nullable(INTEGER)}, ["driver_id"]
                )
            ),
            "responses": {**_BOOKING, **_errors(400, 401, 403, 404, 409)},
        }
    },
    "/bookings/{id}/cancel": {
        "post": {
            "summary": "Cancel with a reason",
            "parameters": [ID_PARAMETER],
            "requestBody": _body(_object({"reason": STRING, "version": _nullable(INTEGER)}, ["reason"])),
            "responses": {**_BOOKING, **_errors(400, 401, 403, 404, 409)},
        }
    },
    "/bookings/{id}/progress": {
        "post": {
            "summary": "The trip moves on (a driver's token may move only their own booking)",
            "parameters": [ID_PARAMETER],
            "requestBody": _body(
                _object(
                    {"status": {"type": "string", "enum": ["arrived", "on_trip", "completed", "no_show"]}}, ["status"]
                )
            ),
            "responses": {**_BOOKING, **_errors(400, 401, 403, 404, 409)},
        }
    },
    "/drivers/me": {"get": {"summary": "The asking driver's state", "responses": {**_STATE, **_errors(401, 403, 404)}}},
    "/drivers/{id}": {
        "get": {
            "summary": "A driver's state",
            "parameters": [ID_PARAMETER],
            "responses": {**_STATE, **_errors(401, 403, 404)},
        }
    },
    "/drivers/{id}/status": {
        "post": {
            "summary": "Change a driver's state",
            "parameters": [ID_PARAMETER],
            "requestBody": _body(
                _object(
                    {"status": {"type": "string", "enum": DRIVER_STATUSES}, "shift_ends_at": NULLABLE_MOMENT},
                    ["status"],
                )
            ),
            "responses": {**_STATE, **_errors(400, 401, 403, 404, 409)},
        }
    },
    "/drivers/{id}/location": {
        "post": {
            "summary": "Report the driver's position",
            "parameters": [ID_PARAMETER],
            "requestBody": _body(_object({"lat": NUMBER, "lon": NUMBER}, ["lat", "lon"])),
            "responses": {
                "200": _json(_object({"lat": NUMBER, "lon": NUMBER}), "the position kept"),
                **_errors(400, 401, 403, 404),
            },
        }
    },
    "/drivers/{id}/queue": {
        "post": {
            "summary": "Check in at a stand queue (default: the zone the driver is in)",
            "parameters": [ID_PARAMETER],
            "requestBody": {
                "content": {"application/json": {"schema": _object({"zone_id": {**ID, "nullable": True}})}}
            },
            "responses": {**_STATE, **_errors(400, 401, 403, 404, 409)},
        },
        "delete": {
            "summary": "Leave the stand queue",
            "parameters": [ID_PARAMETER],
            "responses": {**_STATE, **_errors(401, 403, 404)},
        },
    },
    "/offers/{id}/accept": {
        "post": {
            "summary": "The driver accepts an offer (409 if expired or not theirs)",
            "parameters": [ID_PARAMETER],
            "responses": {**_BOOKING, **_errors(401, 403, 404, 409)},
        }
    },
    "/offers/{id}/decline": {
        "post": {
            "summary": "The driver declines an offer",
            "parameters": [ID_PARAMETER],
            "requestBody": {
                "content": {"application/json": {"schema": _object({"reason": {"type": "string", "nullable": True}})}}
            },
            "responses": {**_STATE, **_errors(400, 401, 403, 404, 409)},
        }
    },
}

# Creating drivers is added to the existing /drivers path item.
NEW_DRIVER = {
    "summary": "Add a driver with a PIN for the mobile page",
    "requestBody": _body(_ref("NewDriver")),
    "responses": {"201": _json(_ref("Driver"), "the new driver"), **_errors(400, 401, 403)},
}
