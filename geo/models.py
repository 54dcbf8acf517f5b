"""Dispatch zones, drawn as polygons over the office's city."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db
from core.models import CreatedAt


class Zone(CreatedAt, db.Model):
    """An area of the city with its own stand queue and fare surcharges (a district, the airport)."""

    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_fa: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    # A GeoJSON Polygon or MultiPolygon geometry, lon/lat order as GeoJSON requires.
    boundary: Mapped[dict] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(default=True)

    def name(self, locale: str) -> str:
        """The zone's name in the given UI language."""
        return self.name_fa if locale == "fa" else self.name_en


class Place(CreatedAt, db.Model):
    """A named place the office added to the gazetteer: a hospital, a square, a landmark.

    The places Cabdesk ships (metro stations, airports, stations) are read from data/tehran/.
    """

    __tablename__ = "places"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_fa: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(32), default="landmark")
    lat: Mapped[float]
    lon: Mapped[float]
    search_key: Mapped[str] = mapped_column(String(500), default="", index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
