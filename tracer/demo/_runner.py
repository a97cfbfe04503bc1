"""Running the demo: the fake API in-process, `tracer.instrument()`, the planned scenarios on a thread pool.

The plan is fixed by the seed and the number of calls: everyday scenarios drawn by weight, with every incident
spread over the run (the frequent ones again every `REPEAT_EVERY` calls) and every everyday scenario at least
once, so even a short run fills every panel. Each task gets its own seeded `random.Random`, so what a task sends
does not depend on which thread runs it or when.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tracer.demo import _scenarios as scenarios
from tracer.demo._models import Models, pick_models
from tracer.demo._settings import DEFAULT_CALLS, DEFAULT_CONCURRENCY, DEFAULT_FAULTS, RATE_LIMITS, SERVICE_NAME
from tracer.resilience import ResilienceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    """One planned scenario run: `calls` is about how many API calls it makes (for the progress bar)."""

    index: int
    scenario: scenarios.Scenario
    calls: int

    @property
    def name(self) -> str:
        return self.scenario.__name__


def plan(calls: int, seed: int = 0) -> list[Task]:
    """The tasks of a run of about `calls` API calls (never fewer than one of each scenario).

    >>> tasks = plan(60, seed=1)
    >>> {t.name for t in tasks} >= {"overload", "budget_trip", "chat", "triage"}
    True
    """
    rng = random.Random(f"plan:{seed}")
    incidents: list[tuple[scenarios.Scenario, int]] = list(scenarios.INCIDENTS)
    repeat = {fn: n for fn, n in scenarios.INCIDENTS}
    for _ in range(max(0, calls // scenarios.REPEAT_EVERY - 1)):
        incidents.extend((fn, repeat[fn]) for fn in scenarios.REPEATED)
    everyday: list[tuple[scenarios.Scenario, int]] = [(fn, n) for fn, _, n in scenarios.EVERYDAY]
    budget = calls - sum(n for _, n in incidents) - sum(n for _, n in everyday)
    weights = [w for _, w, _ in scenarios.EVERYDAY]
    while budget > 0:
        fn, _, n = rng.choices(scenarios.EVERYDAY, weights=weights)[0]
        everyday.append((fn, n))
        budget -= n
    rng.shuffle(everyday)
    rng.shuffle(incidents)
    # Incidents evenly through the run, so the time charts show them at different moments.
    ordered = list(everyday)
    step = len(everyday) / (len(incidents) + 1)
    for k, item in enumerate(incidents):
        ordered.insert(round(step * (k + 1)) + k, item)
    return [Task(i, fn, n) for i, (fn, n) in enumerate(ordered)]


@dataclass
class Result:
    """What a run did: when, which models, tasks by outcome, notable moments, and unexpected errors (bugs)."""

    store: Path
    started: dt.datetime
    finished: dt.datetime
    models: Models
    tasks: int
    outcomes: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    requests: int = 0  # HTTP requests the fake API received
    # Per scenario (by name, in the order they first finished): its runs by outcome, and each line it reported with
    # how often, so a summary can show every scenario once however many times it ran.
    scenarios: dict[str, Counter[str]] = field(default_factory=dict)
    scenario_notes: dict[str, Counter[str]] = field(default_factory=dict)

    def tally(self, task: Task, outcome: str, note: str | None) -> None:
        self.outcomes[outcome] += 1
        self.scenarios.setdefault(task.name, Counter())[outcome] += 1
        if note:
            self.notes.append(note)
            self.scenario_notes.setdefault(task.name, Counter())[note] += 1


Progress = Callable[[Task, str, "str | None"], None]


def run(
    store: str | Path,
    *,
    calls: int = DEFAULT_CALLS,
    seed: int = 0,
    latency_scale: float = 1.0,
    concurrency: int = DEFAULT_CONCURRENCY,
    faults: str = DEFAULT_FAULTS,
    on_start: Callable[[list[Task]], None] | None = None,
    on_done: Progress | None = None,
) -> Result:
    """Serve the fake API, instrument this process into `store`, run the planned workload, flush, uninstrument.

    `on_start(tasks)` and `on_done(task, outcome, note)` report progress (outcome: "ok", an API error's class
    name, or "unexpected"). OpenTelemetry providers are process-wide: run it in a process of its own (the
    `tracer demo` command, or `tracer.demo.fill_store`) rather than inside an instrumented application.

    >>> result = run(".tracer", calls=80, latency_scale=0)      # doctest: +SKIP
    >>> result.outcomes["ok"], result.notes[:2]                 # doctest: +SKIP
    """
    import anthropic

    import tracer
    from tracer.fakeapi import FakeAPI

    models = pick_models()
    tasks = plan(calls, seed)
    target = Path(store).expanduser().resolve()
    started = dt.datetime.now(dt.UTC)
    result = Result(store=target, started=started, finished=started, models=models, tasks=len(tasks))
    lock = threading.Lock()

    with FakeAPI(seed=seed, latency_scale=latency_scale, faults=faults, rate_limits=RATE_LIMITS) as api:
        tracer.instrument(store=target, service_name=SERVICE_NAME)
        try:
            client = anthropic.Anthropic(api_key="demo-key", base_url=api.base_url)
            app = scenarios.App(client=client, base_url=api.base_url, models=models, scale=latency_scale)
            if on_start is not None:
                on_start(tasks)

            def one(task: Task) -> tuple[str, str | None]:
                try:
                    return "ok", task.scenario(app, random.Random(f"{seed}:{task.index}"))
                except (anthropic.APIError, ResilienceError) as exc:
                    # What production code would log: part of the demo's traffic. A healthy stream can still hit its
                    # idle deadline when the fake API's heavy-tailed latency lands a long pause on a busy machine.
                    return type(exc).__name__, None
                except Exception:  # a bug in the demo, the SDK patching or the fake API: reported, not hidden
                    with lock:
                        result.unexpected.append(f"{task.name}: {traceback.format_exc()}")
                    return "unexpected", None

            with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="demo") as pool:
                futures = {pool.submit(one, task): task for task in tasks}
                for future in as_completed(futures):
                    outcome, note = future.result()
                    task = futures[future]
                    result.tally(task, outcome, note)
                    if on_done is not None:
                        on_done(task, outcome, note)
            client.close()
        finally:
            tracer.flush()
            tracer.uninstrument()
        result.requests = len(api.requests)
    result.finished = dt.datetime.now(dt.UTC)
    return result
