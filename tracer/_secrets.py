"""What looks like a credential, and how to take it out of a text: used on recorded content (`capture/_redact.py`)
and on the application's span attributes the store keeps (`store/_rows.py`).

>>> scrub("my key is sk-ant-api03-abcdefghijklmnop and token Bearer abc.def-123456")
'my key is [REDACTED] and token Bearer [REDACTED]'
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

# Each keeps its prefix word where it has one (`Bearer`), so the text still reads.
SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}"),  # Anthropic API and admin keys
    re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{20,}"),  # other providers' secret keys
    re.compile(r"(?<=\bBearer )[A-Za-z0-9\-._~+/]{8,}=*", re.IGNORECASE),  # bearer tokens
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),  # Slack tokens
)
# All of them in one pass, for short texts that rarely hold one (attribute values).
_ANY_SECRET = re.compile("|".join(f"(?{'i' if p.flags & re.IGNORECASE else ''}:{p.pattern})" for p in SECRET_PATTERNS))

# Attribute names whose values are credentials whatever they look like.
SECRET_NAMES = re.compile(r"(?i)(authorization|api[_-]?key|cookie|password|passwd|secret|token|credential)")


def scrub(text: str) -> str:
    """`text` with everything that looks like a secret replaced by `[REDACTED]`. Pure."""
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def scrub_short(text: str) -> str:
    """`scrub` in one pass, for short texts: the same result where no secret's match overlaps another's."""
    return _ANY_SECRET.sub(REDACTED, text) if _ANY_SECRET.search(text) else text
