"""The strict parser for a critique's final judgment line.

A critique in the CTRL format ends with one line ``Overall judgment: Correct`` or
``Overall judgment: Incorrect``. The judgment turns the critic into a verifier, so a sloppy parse
would corrupt both the SFT data (the judgment-contradiction filter) and the discrimination
metrics. The rules, on purpose strict:

- the judgment is the LAST non-empty line of the critique; a judgment in the middle of the text
  followed by more prose does not count (the model did not end on a verdict);
- that line is, apart from markdown decoration (``**``, ``__``, backticks, ``#``, ``>``, list
  bullets) and a trailing period, exactly ``Overall judgment: <Correct|Incorrect>``, case-insensitive
  (``judgement`` is accepted too);
- anything else on that line (``Correct or Incorrect``, ``Mostly correct``, ``Correct, but ...``)
  means no judgment.

``parse_judgment`` returns ``"correct"``, ``"incorrect"`` or ``None``.
"""

from __future__ import annotations

import re

CORRECT = "correct"
INCORRECT = "incorrect"
JUDGMENT_PREFIX = "Overall judgment:"

# Markdown decoration a model may wrap around the line or the verdict.
_DECOR = r"[\s*_`#>\-]*"
_LINE = re.compile(
    rf"^{_DECOR}overall\s+judge?ment{_DECOR}:{_DECOR}(correct|incorrect){_DECOR}\.?{_DECOR}$",
    re.IGNORECASE,
)


def judgment_line(judgment: str) -> str:
    """The canonical final line for ``judgment`` (``"correct"`` or ``"incorrect"``)."""
    if judgment not in (CORRECT, INCORRECT):
        raise ValueError(f"judgment must be 'correct' or 'incorrect', got {judgment!r}")
    return f"{JUDGMENT_PREFIX} {judgment.capitalize()}"


def parse_judgment(text: str | None) -> str | None:
    """The judgment of a critique, or None when its last line is not a clean judgment line.

    Args:
        text: the critique as generated.

    Returns:
        ``"correct"``, ``"incorrect"`` or ``None``.
    """
    if not text:
        return None
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    m = _LINE.match(lines[-1].strip())
    return m.group(1).lower() if m else None


def strip_judgment(text: str) -> str:
    """The critique without its final judgment line (for showing the analysis alone)."""
    lines = text.rstrip().splitlines()
    if lines and _LINE.match(lines[-1].strip()):
        lines = lines[:-1]
    return "\n".join(lines).rstrip()
