"""The console's blueprint, shared by its page modules."""

from flask import Blueprint

bp = Blueprint("agents", __name__, url_prefix="/console")
