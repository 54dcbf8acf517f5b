"""Fill Persian translations into the fa catalog from a small JSON file of msgid → msgstr (for developers).

Usage: .venv/bin/python scripts/fill_translations.py new-strings.json
Then `make messages` (to keep the catalog's usual wrapping) and `make translations`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

CATALOG = Path(__file__).resolve().parent.parent / "translations" / "fa" / "LC_MESSAGES" / "messages.po"


def main() -> None:
    translations = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="fa")
    for message in catalog:
        if message.id and not message.string and message.id in translations:
            message.string = translations[message.id]
    with CATALOG.open("wb") as handle:
        write_po(handle, catalog)
    missing = [m.id for m in catalog if m.id and not m.string]
    print("still untranslated:", *missing, sep="\n  " if missing else " ")


if __name__ == "__main__":
    main()
