"""Text as people type it in Tehran: Persian and Arabic digits, Arabic letter forms; text bound for spreadsheets."""

import re

# Persian (U+06F0..) and Arabic-Indic (U+0660..) digits both occur in typed and pasted numbers.
_DIGITS = {ord(c): str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")}
_DIGITS.update({ord(c): str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")})
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_LETTERS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ە": "ه", "ۀ": "ه", "ة": "ه"})


def ascii_digits(text: str) -> str:
    """Replace Persian and Arabic-Indic digits with ASCII ones, leaving everything else."""
    return text.translate(_DIGITS)


def persian_digits(text: str) -> str:
    """Show ASCII digits as Persian digits."""
    return text.translate(_PERSIAN_DIGITS)


def normalize_persian(text: str) -> str:
    """Fold the spellings of one Persian word together for search.

    Arabic yeh and kaf become Persian, zero-width non-joiners become spaces, digits become
    ASCII, runs of white space collapse and case folds.
    """
    text = ascii_digits(text).translate(_LETTERS).replace("\u200c", " ")
    return " ".join(text.split()).casefold()


# A cell a spreadsheet would run as a formula: = + - @ and the control characters that smuggle one in.
_FORMULA = re.compile(r"^[=+\-@\t\r]")


def spreadsheet_safe(value: str | None) -> str:
    """A CSV cell that a spreadsheet shows as text: a leading ``'`` where it would start a formula."""
    value = value or ""
    return f"'{value}" if _FORMULA.match(value) else value
