"""A writer process for the multi-process tests: `python -m tests.store.worker ROOT PROC CALLS THREADS`.

Makes CALLS calls over THREADS threads, each tagged `key=p<PROC>-t<thread>-<i>`; every 25th call needs a retry
(attempts = 2). With tracer.capture and tracer.fakeapi installed they are real anthropic SDK calls through
`tracer.instrument(store=ROOT)` against the fake API; until then, call/attempt spans shaped like capture's go
through an SDK TracerProvider and StoreExporter (tests/store/spans.py). Prints the mode and exits 0.
"""

from __future__ import annotations

import sys
import threading


def keys(proc: int, thread: int, calls: int, threads: int) -> list[str]:
    return [f"p{proc}-t{thread}-{i}" for i in range(thread, calls, threads)]


def attempts_for(key: str) -> int:
    return 2 if int(key.rsplit("-", 1)[1]) % 25 == 0 else 1


def run_instrumented(root: str, proc: int, calls: int, threads: int) -> None:
    import anthropic

    import tracer
    from tracer.fakeapi import FakeAPI

    with FakeAPI(seed=proc, latency_scale=0.0) as api:
        tracer.instrument(store=root, service_name=f"worker-{proc}")
        client = anthropic.Anthropic(api_key="test-key", base_url=api.base_url, max_retries=2)

        def work(t: int) -> None:
            for key in keys(proc, t, calls, threads):
                headers = {"x-fake-script": "429:1,ok"} if attempts_for(key) == 2 else {}
                with tracer.tags(key=key):
                    client.messages.create(
                        model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}], extra_headers=headers
                    )

        run_threads(work, threads)
        tracer.flush()
        tracer.uninstrument()


def run_sdk(root: str, proc: int, calls: int, threads: int) -> None:
    from tests.store.spans import call, provider
    from tracer.store import StoreExporter

    exporter = StoreExporter(root)
    # A queue big enough for a burst from 4 threads that do nothing but make spans (BatchSpanProcessor drops
    # silently beyond it; real calls take a millisecond each and never get near it).
    tp = provider(exporter, service=f"worker-{proc}", max_queue_size=1 << 20)
    otel = tp.get_tracer("worker")

    def work(t: int) -> None:
        for key in keys(proc, t, calls, threads):
            call(otel, key, attempts=attempts_for(key))

    run_threads(work, threads)
    tp.force_flush()
    tp.shutdown()
    if exporter.dropped:
        raise SystemExit(f"dropped {exporter.dropped} spans")


def run_threads(work, threads: int) -> None:
    errors: list[BaseException] = []

    def guarded(t: int) -> None:
        try:
            work(t)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=guarded, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]


def instrumented_available() -> bool:
    try:
        import tracer.capture
        import tracer.fakeapi  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    root, proc, calls, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) > 5 else ("instrument" if instrumented_available() else "sdk")
    (run_instrumented if mode == "instrument" else run_sdk)(root, proc, calls, threads)
    print(mode)
