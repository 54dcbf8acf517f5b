"""What callers hear, in their language: recorded prompts when the office has them, else text-to-speech."""

from __future__ import annotations

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from twilio.twiml.voice_response import VoiceResponse

# Twilio's text-to-speech language for each UI language.
TTS_LANGUAGES = {"fa": "fa-IR", "en": "en-US"}


def _texts() -> dict[str, str]:
    return {
        "greeting": _(
            "Hello, thank you for calling. To make a complaint press 9. Otherwise please hold, "
            "an operator will answer shortly."
        ),
        "hold": _("Thank you for waiting. You will be answered shortly."),
        "barred": _("Sorry, we cannot take your call. Goodbye."),
        "menu": _(
            "Sorry, no operator can answer now. To leave a message press 1. To be called back press 2. "
            "To make a complaint press 9."
        ),
        "voicemail": _("Please leave your message after the tone, then hang up."),
        "callback": _("Thank you. We will call you back as soon as we can. Goodbye."),
        "thanks": _("Thank you. Goodbye."),
        "retry": _("Your operator could not be reached. Please hold for the next one."),
        "complaint_line": _(
            "Please tell us your complaint after the tone, with the time and place of your trip, then hang up."
        ),
        "complaint_recorded": _("Your complaint has been recorded. A supervisor will get back to you. Goodbye."),
        "feedback_rating": _(
            "Hello, this is your taxi office. How was your trip? Press or say a number from 1, bad, to 5, excellent."
        ),
        "feedback_again": _("Sorry, we did not get that."),
        "feedback_comment": _("Thank you. After the tone, tell us anything you would like to add, then hang up."),
    }


def say(response: VoiceResponse, prompt: str, language: str) -> VoiceResponse:
    """Add a prompt to the TwiML: the office's recording of it if configured, else the text read aloud."""
    base = current_app.config["PROMPT_AUDIO_URL"]
    if base:
        response.play(f"{base}/{language}/{prompt}.mp3")
        return response
    with force_locale(language):
        text = _texts()[prompt]
    response.say(text, language=TTS_LANGUAGES.get(language, "en-US"))
    return response
