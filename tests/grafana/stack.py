"""The docker-compose stack read as data: services, mounted config files, dashboards and their queries.

The tests in this folder read the repository's files through these helpers, so that each test states a property
of the stack (ports agree, names exist) rather than re-parsing files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DASHBOARDS = ROOT / "grafana" / "dashboards"


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


@dataclass(frozen=True)
class Mount:
    service: str
    source: Path  # on the host, resolved against the repository root
    target: str  # in the container


def bind_mounts(service: str | None = None) -> list[Mount]:
    """Every `./path:/container/path[:ro]` volume of the compose file (named volumes are left out)."""
    out = []
    for name, svc in services().items():
        if service is not None and name != service:
            continue
        for volume in svc.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                out.append(Mount(name, (ROOT / source).resolve(), target))
    return out


def mounted_file(service: str, target: str) -> Path:
    """The repository file a service sees at `target`, through a file mount or a directory mount."""
    for mount in bind_mounts(service):
        if target == mount.target:
            return mount.source
        if target.startswith(mount.target.rstrip("/") + "/"):
            return mount.source / target[len(mount.target.rstrip("/")) + 1 :]
    raise AssertionError(f"{service} has no bind mount covering {target}")


def command_flag(service: str, flag: str) -> str | None:
    """The value of `--flag=value` / `-flag=value` in a service's command, or None."""
    command = services()[service].get("command", [])
    if isinstance(command, str):
        command = command.split()
    for arg in command:
        if arg.lstrip("-").startswith(flag.lstrip("-") + "="):
            return arg.split("=", 1)[1]
    return None


def has_flag(service: str, flag: str) -> bool:
    command = services()[service].get("command", [])
    return flag in (command if isinstance(command, list) else command.split())


def published_ports(service: str) -> dict[int, int]:
    """container port -> host port, from `ports: ["HOST:CONTAINER"]`."""
    out = {}
    for spec in services()[service].get("ports", []):
        parts = str(spec).split("/")[0].split(":")
        out[int(parts[-1])] = int(parts[-2]) if len(parts) > 1 else int(parts[-1])
    return out


def host_port(address: str, default_port: int | None = None) -> tuple[str, int]:
    """("tempo", 4317) from "tempo:4317", "http://tempo:3200/x" or "0.0.0.0:4317"."""
    if "://" not in address:
        address = "//" + address
    parts = urlsplit(address)
    port = parts.port or default_port
    if parts.hostname is None or port is None:
        raise AssertionError(f"no host and port in {address!r}")
    return parts.hostname, port


# ----------------------------------------------------------------------------------------------------------------
# Configs as the services see them
# ----------------------------------------------------------------------------------------------------------------


def collector_config() -> dict[str, Any]:
    path = command_flag("otel-collector", "--config")
    assert path, "the collector's command names its --config file"
    return load_yaml(mounted_file("otel-collector", path))


def tempo_config() -> dict[str, Any]:
    path = command_flag("tempo", "-config.file")
    assert path, "tempo's command names its -config.file"
    return load_yaml(mounted_file("tempo", path))


def prometheus_config() -> dict[str, Any]:
    path = command_flag("prometheus", "--config.file")
    assert path, "prometheus's command names its --config.file"
    return load_yaml(mounted_file("prometheus", path))


def prometheus_listen_port() -> int:
    address = command_flag("prometheus", "--web.listen-address") or "0.0.0.0:9090"
    return host_port(address)[1]


def grafana_provisioning(kind: str) -> list[dict[str, Any]]:
    """The parsed provisioning files of one kind ("datasources", "dashboards") mounted into Grafana."""
    root = mounted_file("grafana", "/etc/grafana/provisioning") / kind
    return [load_yaml(p) for p in sorted(root.glob("*.y*ml"))]


def datasources() -> list[dict[str, Any]]:
    return [ds for doc in grafana_provisioning("datasources") for ds in doc.get("datasources", [])]


# ----------------------------------------------------------------------------------------------------------------
# Dashboards
# ----------------------------------------------------------------------------------------------------------------


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    datasource_uid: str
    text: str  # PromQL or TraceQL as written, Grafana variables included


def queries(kind: str) -> list[Query]:
    """Every target of every panel whose datasource is of `kind` ("prometheus" or "tempo")."""
    out = []
    for file, dash in dashboards().items():
        for panel in panels(dash):
            for t in panel.get("targets", []):
                ds = t.get("datasource") or panel.get("datasource") or {}
                if ds.get("type") != kind:
                    continue
                text = t.get("expr") if kind == "prometheus" else t.get("query")
                if text:
                    out.append(Query(file, panel["title"], t["refId"], ds.get("uid", ""), text))
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana variables replaced by concrete values: $x, ${x} and ${x:format} (formats ignored)."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"no value for Grafana variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "by", "without", "rate", "irate", "increase", "histogram_quantile",
    "sort_desc", "sort", "topk", "bottomk", "label_values", "offset", "bool", "on", "ignoring", "group_left",
    "group_right", "and", "or", "unless", "clamp_min", "clamp_max", "abs", "delta", "idelta", "vector", "time",
    "le", "quantile", "stddev",
}  # fmt: skip


def promql_metrics(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers directly followed by `{` or `[` that are no PromQL word."""
    names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[\{\[]", expr))
    return {n for n in names if n not in PROMQL_WORDS}


def promql_labels(expr: str) -> set[str]:
    """Label names an expression refers to: in matchers and in by(...)/without(...) clauses."""
    out = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"", expr))
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        out |= {g.strip() for g in group.split(",") if g.strip()}
    return out


def traceql_attributes(query: str) -> set[str]:
    """Span/resource attribute names a TraceQL query refers to: `span.gen_ai.request.model` -> that name."""
    return set(re.findall(r"\b(?:span|resource)\.([a-zA-Z_][a-zA-Z0-9_.]*[a-zA-Z0-9_])", query))
