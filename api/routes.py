"""The JSON API: the blueprint with every route module attached."""

from flask import jsonify

from api import bookings, complaints, drivers, fare_rules, quotes, subscribers  # noqa: F401  (attach their routes)
from api.blueprint import bp
from api.openapi import openapi_document

__all__ = ["bp"]


@bp.route("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this API."""
    return jsonify(openapi_document())
