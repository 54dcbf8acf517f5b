"""The OpenAPI description of the complaint and feedback routes."""

from __future__ import annotations

from api.complaints import FEEDBACK_CHANNELS as API_FEEDBACK_CHANNELS
from api.openapi import (
    ID,
    ID_PARAMETER,
    INTEGER,
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
from feedback.keywords import CATEGORIES as KEYWORD_CATEGORIES
from feedback.models import ComplaintStatus, FeedbackStatus

CATEGORIES = list(KEYWORD_CATEGORIES)
COMPLAINT_STATUSES = [s.value for s in ComplaintStatus]
FEEDBACK_STATUSES = [s.value for s in FeedbackStatus]
FEEDBACK_CHANNELS = list(API_FEEDBACK_CHANNELS)
NULLABLE_INTEGER = {"type": "integer", "nullable": True}
NULLABLE_STRING = {"type": "string", "nullable": True}
MOMENT = {"type": "string", "format": "date-time"}
NULLABLE_MOMENT = {"type": "string", "format": "date-time", "nullable": True}
DAY = {"type": "string", "format": "date", "description": "an office calendar day, inclusive"}
SEVERITY = {"type": "integer", "enum": [1, 2, 3], "description": "1 low, 2 normal, 3 high"}

COMPLAINT = _object(
    {
        "id": INTEGER,
        "reference": STRING,
        "status": {"type": "string", "enum": COMPLAINT_STATUSES},
        "category": {"type": "string", "enum": CATEGORIES},
        "severity": SEVERITY,
        "source": {"type": "string", "enum": ["rating", "sms", "phone", "agent"]},
        "description": STRING,
        "transcript": STRING,
        "resolution": STRING,
        "subscriber_id": NULLABLE_INTEGER,
        "phone": STRING,
        "booking_id": NULLABLE_INTEGER,
        "driver_id": NULLABLE_INTEGER,
        "agent_id": {**NULLABLE_INTEGER, "description": "the staff member who took the booking"},
        "zone_id": {**NULLABLE_INTEGER, "description": "the trip's pickup zone"},
        "assigned_to_id": NULLABLE_INTEGER,
        "feedback_id": NULLABLE_INTEGER,
        "created_at": MOMENT,
        "respond_by": NULLABLE_MOMENT,
        "first_response_at": NULLABLE_MOMENT,
        "resolved_at": NULLABLE_MOMENT,
        "sla_breached": {"type": "boolean"},
        "recording_url": STRING,
    }
)
COMPLAINT_EVENT = _object(
    {
        "at": MOMENT,
        "user_id": NULLABLE_INTEGER,
        "action": STRING,
        "from_status": NULLABLE_STRING,
        "to_status": NULLABLE_STRING,
        "note": STRING,
    }
)
FEEDBACK = _object(
    {
        "id": INTEGER,
        "booking_id": INTEGER,
        "subscriber_id": NULLABLE_INTEGER,
        "driver_id": NULLABLE_INTEGER,
        "channel": {"type": "string", "enum": FEEDBACK_CHANNELS},
        "status": {"type": "string", "enum": FEEDBACK_STATUSES},
        "rating": {"type": "integer", "minimum": 1, "maximum": 5, "nullable": True},
        "comment": STRING,
        "transcript": STRING,
        "recording_url": STRING,
        "requested_at": NULLABLE_MOMENT,
        "answered_at": NULLABLE_MOMENT,
        "created_at": MOMENT,
    }
)
FEEDBACK_EVENT = _object(
    {"kind": STRING, "at": MOMENT, "data": {"type": "object", "description": "Twilio's raw payload, what was read"}}
)


def _with_events(name: str, event: str) -> dict:
    return {"allOf": [_ref(name), _object({"events": {"type": "array", "items": _ref(event)}})]}


SCHEMAS = {
    "Complaint": COMPLAINT,
    "ComplaintEvent": COMPLAINT_EVENT,
    "ComplaintWithEvents": _with_events("Complaint", "ComplaintEvent"),
    "NewComplaint": _object(
        {
            "subscriber_id": _nullable(INTEGER),
            "phone": _nullable(STRING),
            "booking_id": _nullable({"type": "integer", "description": "default: the subscriber's last trip"}),
            "description": {"type": "string", "minLength": 1, "maxLength": 4000},
            "category": _nullable(
                {"type": "string", "enum": CATEGORIES, "description": "default: suggested from the words"}
            ),
            "severity": _nullable(SEVERITY),
        },
        ["description"],
    )
    | {"additionalProperties": False, "description": "at least one of subscriber_id, phone, booking_id"},
    "Feedback": FEEDBACK,
    "FeedbackEvent": FEEDBACK_EVENT,
    "FeedbackWithEvents": _with_events("Feedback", "FeedbackEvent"),
}

PATHS = {
    "/complaints": {
        "get": {
            "summary": "The complaint log, newest first (supervisors, admins)",
            "parameters": [
                *PAGE_PARAMETERS,
                _filter("date_from", DAY),
                _filter("date_to", DAY),
                _filter("status", {"type": "string", "enum": COMPLAINT_STATUSES}),
                _filter("category", {"type": "string", "enum": CATEGORIES}),
                *(_filter(name, ID) for name in ("driver_id", "agent_id", "zone_id")),
                _filter("severity", SEVERITY),
                _filter("sla_breached", {"type": "string", "enum": ["1", "0", "true", "false", "yes", "no"]}),
                *(_filter(name, ID) for name in ("assigned_to_id", "subscriber_id")),
                _filter("q", {"type": "string", "maxLength": 200, "description": "words in the text or reference"}),
            ],
            "responses": {"200": _json(_page_of("Complaint"), "a page of complaints"), **_errors(400, 401, 403)},
        },
        "post": {
            "summary": "Open a complaint on a customer's behalf (agents, supervisors, admins)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewComplaint")}}},
            "responses": {
                "201": _json(_ref("ComplaintWithEvents"), "the new complaint"),
                **_errors(400, 401, 403),
            },
        },
    },
    "/complaints/{id}": {
        "get": {
            "summary": "One complaint with its audit trail (supervisors, admins)",
            "parameters": [ID_PARAMETER],
            "responses": {"200": _json(_ref("ComplaintWithEvents"), "the complaint"), **_errors(401, 403, 404)},
        }
    },
    "/feedback": {
        "get": {
            "summary": "Trips' feedback, newest first (supervisors, admins)",
            "parameters": [
                *PAGE_PARAMETERS,
                _filter("status", {"type": "string", "enum": FEEDBACK_STATUSES}),
                _filter("channel", {"type": "string", "enum": FEEDBACK_CHANNELS}),
                _filter("rating", {"type": "integer", "minimum": 1, "maximum": 5}),
                *(_filter(name, ID) for name in ("driver_id", "subscriber_id", "booking_id")),
                _filter("date_from", DAY),
                _filter("date_to", DAY),
            ],
            "responses": {"200": _json(_page_of("Feedback"), "a page of feedback"), **_errors(400, 401, 403)},
        }
    },
    "/feedback/{id}": {
        "get": {
            "summary": "One feedback request with its events: Twilio's raw payloads and what was read from them",
            "parameters": [ID_PARAMETER],
            "responses": {"200": _json(_ref("FeedbackWithEvents"), "the feedback"), **_errors(401, 403, 404)},
        }
    },
}
