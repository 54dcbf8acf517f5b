"""Headers that make the browser refuse what Cabdesk never does: foreign scripts, framing, sniffing."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask

TWILIO = "https://*.twilio.com wss://*.twilio.com"


def content_security_policy(map_tile_url: str) -> str:
    """The page policy: everything from Cabdesk itself, plus map tiles and Twilio's voice service."""
    tiles = urlsplit(map_tile_url.replace("{s}", "a"))
    tile_origin = f" {tiles.scheme}://{tiles.netloc.replace('a.', '*.', 1)}" if tiles.netloc else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob:{tile_origin}",
            f"connect-src 'self' {TWILIO}",
            f"media-src 'self' {TWILIO}",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'self'",
        ]
    )


def install_security_headers(app: Flask) -> None:
    """Add the headers to every response."""
    policy = content_security_policy(app.config.get("MAP_TILE_URL", ""))

    @app.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
