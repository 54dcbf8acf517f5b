"""Every string the interface shows has a Persian translation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def test_every_extracted_string_is_translated_to_persian(tmp_path):
    template = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run(
        [
            str(pybabel),
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "--ignore-dirs",
            ".* ._ node_modules tests migrations bench",
            "-o",
            str(template),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    with template.open("rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    with (ROOT / "translations/fa/LC_MESSAGES/messages.po").open("rb") as handle:
        persian = {m.id: m.string for m in read_po(handle) if m.id}
    # A plural message's translation is a tuple of forms: every form must be filled.
    missing = sorted(str(m) for m in wanted if not all(_forms(persian.get(m))))
    assert missing == [], "run `make messages` and translate these in translations/fa: " + "; ".join(missing)


def test_persian_translations_keep_their_placeholders():
    import re

    with (ROOT / "translations/fa/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if not message.id:
            continue
        wanted = set(re.findall(r"%\(\w+\)s", _forms(message.id)[0]))
        for form in _forms(message.string):
            if form:
                assert set(re.findall(r"%\(\w+\)s", form)) == wanted, message.id


def _forms(value) -> tuple:
    """A catalog string as a tuple of its forms (one for a plain message, several for a plural one)."""
    if not value:
        return ("",)
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)
