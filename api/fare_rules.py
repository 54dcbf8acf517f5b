"""Fare rules through the API: their versions, and publishing a new one."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, jsonify, request
from flask_login import current_user

from accounts.roles import Area
from api.blueprint import bp
from api.common import ApiError, json_body, paginate, require_area
from core.errors import json_error
from core.extensions import db
from core.models import utcnow
from drivers.models import VehicleClass
from fares.models import FareRule
from fares.rules import RuleError, publish_rule, rule_in_force, rule_values, rules_query


@bp.errorhandler(RuleError)
def rule_error(error: RuleError):
    """A refused fare rule, as the API's error object."""
    return json_error(error.status, error.code, error.message, error.fields)


def fare_rule_json(rule: FareRule) -> dict:
    """A version of a fare rule as the API shows it: money as whole numbers of the currency's smallest unit."""
    return {
        "id": rule.id,
        "version": rule.version,
        **rule_values(rule),
        "valid_from": rule.valid_from.isoformat(),
        "valid_to": rule.valid_to.isoformat() if rule.valid_to else None,
        "current": rule_in_force(rule),
        "created_at": rule.created_at.isoformat(),
        "created_by_id": rule.created_by_id,
    }


def _moment(raw: object) -> datetime | None:
    """An ISO 8601 moment; one without a zone is read on the office clock."""
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        message = "valid_from must be an ISO 8601 date and time"
        raise ApiError(400, "invalid", message, {"valid_from": "invalid"}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(current_app.config["OFFICE_TIMEZONE"]))
    return moment


@bp.route("/fare-rules")
def list_fare_rules():
    """Fare rule versions, by class then newest first; ``vehicle_class`` and ``current=true`` narrow them."""
    require_area(Area.CONSOLE, Area.DISPATCH, Area.ADMINISTRATION)
    vehicle_class = request.args.get("vehicle_class")
    if vehicle_class is not None and vehicle_class not in {v.value for v in VehicleClass}:
        raise ApiError(400, "invalid_parameter", "unknown vehicle class", {"vehicle_class": "invalid"})
    current = request.args.get("current", "false").lower()
    if current not in ("true", "false"):
        raise ApiError(400, "invalid_parameter", "current must be true or false", {"current": "invalid"})
    query = rules_query(vehicle_class, utcnow() if current == "true" else None)
    return jsonify(paginate(query, fare_rule_json))


@bp.route("/fare-rules/<int:rule_id>")
def get_fare_rule(rule_id: int):
    """One version of a fare rule."""
    require_area(Area.CONSOLE, Area.DISPATCH, Area.ADMINISTRATION)
    rule = db.session.get(FareRule, rule_id)
    if rule is None:
        raise ApiError(404, "not_found", f"no fare rule {rule_id}")
    return jsonify(fare_rule_json(rule))


@bp.route("/fare-rules", methods=["POST"])
def publish_fare_rule():
    """Publish a new version of a class's rule: every value of the rule, and ``valid_from`` (default now)."""
    require_area(Area.ADMINISTRATION)
    body = json_body()
    valid_from = _moment(body.pop("valid_from", None))
    rule = publish_rule(body, current_user, valid_from)
    db.session.commit()
    return jsonify(fare_rule_json(rule)), 201
