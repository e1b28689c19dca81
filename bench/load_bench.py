"""Mixed Open API load against the scale-out stack (PostgreSQL, Redis, 4 gunicorn workers,
2 Redis task workers), from a separate process on loopback, bounded in time.

Operations, drawn at random by weight, each from one of many keys: contacts list, search,
get, create and update; extraction submit (small text documents) and poll; keys/me.
Prints throughput, p50/p95/p99 per operation, the error rate and every non-2xx status.

  .venv/bin/python bench/load_bench.py [--seconds 60] [--keys 40] [--clients 16] [--json]

It makes a fresh database `a2v2_load` on the machine's PostgreSQL and uses Redis
databases 10 and 11 (flushed first).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import (
    REDIS_DEFAULT,
    Stack,
    ensure_services,
    issue_keys,
    new_agent,
    recreate_database,
)

WEIGHTS = {
    "contacts.list": 18,
    "contacts.search": 12,
    "contacts.get": 20,
    "contacts.create": 10,
    "contacts.update": 10,
    "extraction.submit": 4,
    "extraction.poll": 14,
    "keys.me": 12,
}


def client_loop(port: int, agent: str, keys: list[str], seconds: float, seed: int, out) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    contacts: list[str] = []
    documents: list[str] = []
    samples: list[tuple[str, int, float]] = []
    names, weights = zip(*WEIGHTS.items(), strict=True)
    deadline = time.monotonic() + seconds
    base_contacts = f"/v1/open/contacts/chatbots/{agent}"
    base_documents = f"/v1/open/document-extraction/chatbots/{agent}"

    while time.monotonic() < deadline:
        op = rng.choices(names, weights)[0]
        key = rng.choice(keys)
        headers = {"X-API-Key": key}
        body: bytes | None = None
        method = "GET"
        if op == "contacts.list":
            path = f"{base_contacts}?page={rng.randint(1, 3)}&limit=20"
        elif op == "contacts.search":
            path = f"{base_contacts}?search=person+{rng.randint(0, 99)}&limit=20"
        elif op in ("contacts.get", "contacts.update") and not contacts:
            op, method = "contacts.create", "POST"
        elif op == "contacts.get":
            path = f"/v1/open/contacts/{rng.choice(contacts)}/chatbots/{agent}"
        elif op == "extraction.poll" and not documents:
            op = "extraction.submit"
        elif op == "extraction.poll":
            path = f"/v1/open/document-extraction/{rng.choice(documents)}/chatbots/{agent}"
        if op == "contacts.create":
            method = "POST"
            path = base_contacts
            ref = uuid.uuid4().hex[:16]
            n = rng.randint(0, 99)
            body = json.dumps(
                {"externalReferenceId": ref, "name": f"Person {n} {ref[:4]}",
                 "email": f"{ref}@example.com", "stage": "Lead"}
            ).encode()  # fmt: skip
            headers["Content-Type"] = "application/json"
        elif op == "contacts.update":
            method = "PUT"
            ref = rng.choice(contacts)
            path = f"/v1/open/contacts/{ref}/chatbots/{agent}"
            body = json.dumps(
                {"name": f"Person {rng.randint(0, 99)} updated", "email": f"{ref}@example.com",
                 "stage": rng.choice(["Lead", "Prospect", "Customer"])}
            ).encode()  # fmt: skip
            headers["Content-Type"] = "application/json"
        elif op == "extraction.submit":
            method = "POST"
            path = base_documents
            boundary = uuid.uuid4().hex
            text = f"Invoice number: INV-{rng.randint(1, 9999)}\nTotal: {rng.randint(1, 999)}.00\n"
            body = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.txt"\r\n'
                f"Content-Type: text/plain\r\n\r\n{text}\r\n--{boundary}--\r\n"
            ).encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif op == "keys.me":
            path = "/v1/open/keys/me"

        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status, payload = 0, b""
        elapsed = time.perf_counter() - started
        samples.append((op, status, elapsed))
        if status in (200, 201, 202):
            data = json.loads(payload).get("data") or {}
            if op == "contacts.create" and data.get("externalReferenceId"):
                contacts.append(data["externalReferenceId"])
            elif op == "extraction.submit" and data.get("id"):
                documents.append(data["id"])
    connection.close()
    out.extend(samples)


def generator_process(
    port: int, agent: str, keys: list[str], seconds: float, clients: int, queue
) -> None:  # type: ignore[no-untyped-def]
    results: list[tuple[str, int, float]] = []
    threads = [
        threading.Thread(target=client_loop, args=(port, agent, keys, seconds, n, results))
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(results)


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument("--web", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    ensure_services()
    for db in (10, 11):
        subprocess.run(["redis-cli", "-n", str(db), "flushdb"], check=True, capture_output=True)
    stack = Stack(
        database_url=recreate_database("a2v2_load", drop=True),
        cache_url=f"{REDIS_DEFAULT}/10",
        tasks_redis_url=f"{REDIS_DEFAULT}/11",
        web_workers=args.web,
        task_workers=args.workers,
        collectstatic=False,
    )
    stack.prepare()
    agent = new_agent(stack, "Load", "load@example.com")
    keys = issue_keys(stack, agent, args.keys)
    stack.start()
    try:
        # Warm every key and every worker once.
        for key in keys:
            conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
            conn.request("GET", "/v1/open/keys/me", headers={"X-API-Key": key})
            conn.getresponse().read()
            conn.close()
        queue: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
        process = multiprocessing.get_context("spawn").Process(
            target=generator_process,
            args=(stack.port, agent, keys, args.seconds, args.clients, queue),
        )
        started = time.monotonic()
        process.start()
        samples = queue.get(timeout=args.seconds + 120)
        process.join(timeout=30)
        wall = time.monotonic() - started
        server_errors = stack.log("web").count(" ERROR ")
    finally:
        stack.stop()

    by_op: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter] = defaultdict(Counter)
    for op, status, elapsed in samples:
        by_op[op].append(elapsed * 1000)
        statuses[op][status] += 1
    total = len(samples)
    errors = sum(1 for _, status, _ in samples if not 200 <= status < 300)
    fivexx = sum(1 for _, status, _ in samples if status >= 500 or status == 0)
    report = {
        "seconds": round(wall, 1),
        "requests": total,
        "throughput_rps": round(total / args.seconds, 1),
        "error_rate": round(errors / total, 5) if total else None,
        "errors": errors,
        "5xx_or_connection": fivexx,
        "server_error_log_lines": server_errors,
        "setup": f"{args.web} gunicorn workers, {args.workers} task workers, "
        f"{args.clients} connections, {args.keys} keys, PostgreSQL + Redis",
        "operations": {
            op: {
                "count": len(values),
                "p50_ms": round(percentile(values, 50), 1),
                "p95_ms": round(percentile(values, 95), 1),
                "p99_ms": round(percentile(values, 99), 1),
                "statuses": dict(statuses[op]),
            }
            for op, values in sorted(by_op.items())
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['setup']}; {args.seconds:.0f} s")
    print(f"{total} requests, {report['throughput_rps']} req/s, error rate {report['error_rate']:.3%}"
          f" ({errors} errors, {fivexx} 5xx/connection)")  # fmt: skip
    print(f"{'operation':20} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for op, row in report["operations"].items():
        print(
            f"{op:20} {row['count']:>7} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['p99_ms']:>8}  {row['statuses']}"
        )


if __name__ == "__main__":
    main()
