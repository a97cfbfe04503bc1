"""Model names as Anthropic, Bedrock and Vertex spell them, reduced to the Anthropic API's form."""

from __future__ import annotations

import re

# Bedrock: `anthropic.claude-sonnet-4-5-20250929-v1:0`, cross-region inference profiles with a geography
# prefix (`us.`, `eu.`, `apac.`, `global.`, `us-gov.`...), and either inside an ARN
# (`arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-...`).
_BEDROCK = re.compile(r"^(?:[a-z]{2,6}(?:-[a-z]+)?\.)?anthropic\.(?P<model>claude[^/]*?)(?:-v\d+(?::\d+)?)?$")
# Vertex: `claude-sonnet-4-5@20250929`, also inside `publishers/anthropic/models/...`.
_VERTEX_DATE = re.compile(r"@(\d{8})$")
_DATE_SUFFIX = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")


def normalize(model: str) -> str:
    """`us.anthropic.claude-opus-4-6-v1:0` -> `claude-opus-4-6`; `claude-sonnet-4-5@20250929` -> `claude-sonnet-4-5-20250929`.

    >>> normalize("global.anthropic.claude-sonnet-4-5-20250929-v1:0")
    'claude-sonnet-4-5-20250929'
    """
    name = model.strip().lower()
    if "/" in name:  # ARNs and Vertex resource paths end in the model ID
        name = name.rsplit("/", 1)[1]
    match = _BEDROCK.match(name)
    if match:
        name = match.group("model")
    name = _VERTEX_DATE.sub(r"-\1", name)
    if name.endswith("@latest") or name.endswith("@default"):
        name = name.rsplit("@", 1)[0]
    return name


def without_date(name: str) -> str:
    """`claude-mythos-5-20260609` -> `claude-mythos-5` (a second chance for models we list by alias)."""
    return _DATE_SUFFIX.sub("", name)
