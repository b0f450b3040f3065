"""The peer C of `cargo xtask bench`: Microsoft's official Python client
(azure-iot-deviceupdate) calling get_operation_status in a loop against the
benchmark's emulator (https).

Usage: bench_peer.py --endpoint localhost:PORT --cert CERT.pem --operation ID

Prints `ready` once a first call worked, then answers each stdin command
`run CONCURRENCY MILLIS` with one JSON line: requests, errors, secs, rps,
p50_us, p99_us. A tenth of each burst (at least 100 ms) warms up unrecorded.
One client is shared by all threads, as an application would share it; the
token is cached by azure-core's bearer-token policy.
"""

import argparse
import json
import re
import sys
import threading
import time

from azure.iot.deviceupdate import DeviceUpdateClient
from emulator_peer import EmulatorCredential, RestoreColon

API_VERSION = "2022-10-01"




def burst(updates, operation, concurrency, millis):
    measure = millis / 1000.0
    warmup = max(measure / 10.0, 0.1)
    start = time.monotonic()
    measured_from = start + warmup
    end = measured_from + measure
    results = []
    lock = threading.Lock()

    def worker():
        latencies = []
        errors = 0
        first_error = None
        while True:
            t0 = time.monotonic()
            if t0 >= end:
                break
            try:
                op = updates.get_operation_status(operation)
                ok = op["status"] == "Running"
                if not ok:
                    raise RuntimeError(f"unexpected status {op['status']}")
            except Exception as e:  # noqa: BLE001 - counted and reported
                if t0 >= measured_from:
                    errors += 1
                    first_error = first_error or repr(e)
                continue
            took = time.monotonic() - t0
            if t0 >= measured_from:
                latencies.append(int(took * 1e6))
        with lock:
            results.append((latencies, errors, first_error))

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - measured_from
    latencies = sorted(l for r in results for l in r[0])
    errors = sum(r[1] for r in results)
    first_error = next((r[2] for r in results if r[2]), None)

    def pct(p):
        if not latencies:
            return 0
        return latencies[min(len(latencies) - 1, round((len(latencies) - 1) * p))]

    return {
        "variant": "c",
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "first_error": first_error,
        "secs": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--operation", required=True)
    parser.add_argument("--instance", default="blue")
    args = parser.parse_args()

    client = DeviceUpdateClient(
        endpoint=args.endpoint,
        credential=EmulatorCredential(args.endpoint, args.cert),
        instance_id=args.instance,
        api_version=API_VERSION,
        connection_verify=args.cert,
        per_call_policies=[RestoreColon()],
    )
    updates = client.device_update
    updates.get_operation_status(args.operation)
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) == 3 and words[0] == "run":
            answer = burst(updates, args.operation, int(words[1]), int(words[2]))
        else:
            answer = {"error": f"unknown command {line!r}"}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
