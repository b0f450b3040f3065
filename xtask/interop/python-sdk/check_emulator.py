"""Runs Microsoft's official Python client (azure-iot-deviceupdate) against
a running adu-emulator in https mode and checks what it gets back: update
and device-management operations, read one by one and listed page by page,
and both kinds of import followed by the client's own poller to the end.

Usage: check_emulator.py --endpoint localhost:PORT --cert CERT.pem --scenario SCENARIO.json
       [--api-version VERSION] [--page-size N] [--instance blue]
       [--tenant emulator] [--client-id ID] [--client-secret SECRET]

Without --api-version the client is left at its own default version, which
is checked to be 2026-06-01. --page-size is the emulator's page size when a
flag overrode the scenario's `pageSize`. The scenario is the one the emulator
serves (`scenario.json` beside this file); the expected status of each of
its operations follows from its timings (a phase of more than a minute is
where it stays) and its outcome. Prints `N passed, M failed` last and exits
non-zero if anything failed.
"""

import argparse
import importlib.metadata
import json
import math
import re
import sys
import time
import traceback
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
)
from azure.iot.deviceupdate import DeviceUpdateClient
from emulator_peer import EmulatorCredential, Recorder, RestoreColon

# What the installed client sends when told no version (its configuration's default).
CLIENT_DEFAULT_API_VERSION = "2026-06-01"
# The one filter the service supports.
ACTIVE = "status eq 'NotStarted' or status eq 'Running'"
# A phase longer than this is one the operation stays in while the checks run.
FOREVER_MS = 60_000


class Checks:
    def __init__(self, label):
        self.label = label
        self.passed = 0
        self.failed = 0

    def run(self, name, fn):
        try:
            detail = fn()
        except Exception:  # noqa: BLE001 - report every failure and go on
            self.failed += 1
            print(f"FAIL [{self.label}] {name}")
            traceback.print_exc()
        else:
            self.passed += 1
            print(f"ok   [{self.label}] {name}" + (f" ({detail})" if detail else ""))


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def expected_status(op):
    timings = op.get("timings", {})
    if timings.get("notStartedMs", 0) > FOREVER_MS:
        return "NotStarted"
    if timings.get("runningMs", 0) > FOREVER_MS:
        return "Running"
    return "Failed" if op.get("outcome") == "failed" else "Succeeded"


def seeded(scenario, kind):
    """The scenario's operations of one kind, in the scenario's order: {id: status}."""
    ops = [op for op in scenario["operations"] if op.get("kind", "update") == kind]
    return {op["id"]: expected_status(op) for op in ops}


class Family:
    """One operations family (`updates` or `management`) as the client reads it, and what
    the emulator should hold: the seeded operations, then the ones imported here, in the
    order the emulator created them, which is the order its lists follow."""

    def __init__(self, name, operations, path, expected):
        self.name = name
        self.operations = operations
        self.path = path
        self.expected = dict(expected)

    def order(self):
        return list(self.expected)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--api-version")
    parser.add_argument("--page-size", type=int)
    parser.add_argument("--instance", default="blue")
    parser.add_argument("--tenant", default="emulator")
    parser.add_argument("--client-id", default="adu-emulator")
    parser.add_argument("--client-secret", default="adu-emulator-secret")
    args = parser.parse_args()

    with open(args.scenario, encoding="utf-8") as f:
        scenario = json.load(f)
    page_size = args.page_size or scenario["pageSize"]
    version = args.api_version or CLIENT_DEFAULT_API_VERSION
    label = f"{version}{'' if args.api_version else ' (default)'}, page size {page_size}"

    credential = EmulatorCredential(
        args.endpoint, args.cert, args.tenant, args.client_id, args.client_secret
    )
    recorder = Recorder()
    chosen = {"api_version": args.api_version} if args.api_version else {}
    client = DeviceUpdateClient(
        endpoint=args.endpoint,
        credential=credential,
        instance_id=args.instance,
        connection_verify=args.cert,
        per_call_policies=[RestoreColon()],
        per_retry_policies=[recorder],
        polling_interval=1,
        **chosen,
    )
    updates = client.device_update
    management = client.device_management
    base = f"/deviceUpdate/{args.instance}"
    families = {
        "updates": Family("updates", updates, f"{base}/updates/operations", seeded(scenario, "update")),
        "management": Family(
            "management", management, f"{base}/management/operations", seeded(scenario, "device")
        ),
    }
    checks = Checks(label)
    figures = {"pages": 0, "listed": 0}

    def client_version():
        installed = importlib.metadata.version("azure-iot-deviceupdate")
        expect(installed == "1.1.0", installed)
        expect(client._config.api_version == version, client._config.api_version)  # noqa: SLF001
        return f"azure-iot-deviceupdate {installed}"

    # --- one update operation at a time ---------------------------------------------------

    def running():
        op = updates.get_operation_status("op-running")
        expect(op["operationId"] == "op-running", op)
        expect(op["status"] == "Running", op)
        expect(re.fullmatch(r"[0-9a-f]{32}", op["traceId"]), op)
        expect(op["etag"].startswith('"') and op["etag"].endswith('"'), op)
        expect(op["update"]["updateId"]["provider"] == "contoso", op)
        expect("resourceLocation" not in op, op)

    def not_modified():
        op = updates.get_operation_status("op-running")
        try:
            updates.get_operation_status(
                "op-running", etag=op["etag"], match_condition=MatchConditions.IfModified
            )
        except ResourceNotModifiedError as e:
            expect(e.status_code == 304, e)
        else:
            raise AssertionError("expected 304 Not Modified")

    def succeeded():
        op = updates.get_operation_status("op-succeeded")
        expect(op["operationId"] == "op-succeeded" and op["status"] == "Succeeded", op)
        expect(op["resourceLocation"].startswith(f"{base}/updates/providers/"), op)
        expect(f"api-version={version}" in op["resourceLocation"], op)
        expect("error" not in op, op)

    def failed():
        op = updates.get_operation_status("op-failed")
        expect(op["operationId"] == "op-failed" and op["status"] == "Failed", op)
        error = op["error"]
        expect(error["code"] and error["message"] and error["occurredDateTime"], error)
        inner = error.get("innererror") or error.get("innerError")
        while inner.get("innerError"):
            inner = inner["innerError"]
        expect("403" in inner["errorDetail"], inner)

    def not_started():
        op = updates.get_operation_status("op-not-started")
        expect(op["operationId"] == "op-not-started" and op["status"] == "NotStarted", op)

    def not_found():
        try:
            updates.get_operation_status("no-such-operation")
        except ResourceNotFoundError as e:
            expect(e.status_code == 404, e)
            expect(e.error is not None and e.error.code == "OperationNotFound", e.error)
        else:
            raise AssertionError("expected ResourceNotFoundError")

    def every_seeded(family):
        def check():
            for op_id, status in family.expected.items():
                op = family.operations.get_operation_status(op_id)
                expect(op["operationId"] == op_id and op["status"] == status, (status, op))
                if family.name == "management":
                    expect("update" not in op and "resourceLocation" not in op, op)
            return f"{len(family.expected)} operations"

        return check

    # --- imports, followed by the client's own poller -----------------------------------------

    def follow(family, start, operation_location_path):
        mark = recorder.mark()
        started = time.monotonic()
        poller = start()
        result = poller.result(timeout=60)
        took = time.monotonic() - started
        expect(result is None, result)
        expect(poller.done() and poller.status().lower() == "succeeded", poller.status())
        sent = recorder.since(mark)
        started_with = sent[0]
        expect(started_with.method == "POST" and started_with.status == 202, sent)
        location = started_with.operation_location
        expect(location and location.startswith(f"{operation_location_path}/"), location)
        expect(f"api-version={version}" in location, location)
        op_id = location.split("?")[0].rsplit("/", 1)[1]
        polls = [x for x in sent if x.path == f"{family.path}/{op_id}"]
        expect(polls and all(x.status == 200 for x in polls), sent)
        op = family.operations.get_operation_status(op_id)
        expect(op["operationId"] == op_id and op["status"] == "Succeeded", op)
        family.expected[op_id] = "Succeeded"
        return op, f"{op_id}, {len(polls)} polls, {took:.1f} s"

    def import_update():
        item = {
            "importManifest": {
                "url": "https://storage.example/fabrikam.kettle.2.1.0.importmanifest.json",
                "sizeInBytes": 453,
                "hashes": {"sha256": "Q2xCdXZ5cWxOZkRvR2pMMFJqOHM3aW5aSzJIZkFIZzY="},
            },
            "files": [{"filename": "kettle.swu", "url": "https://storage.example/kettle.swu"}],
        }
        family = families["updates"]
        op, detail = follow(family, lambda: updates.begin_import_update([item]), family.path)
        expect(op["update"]["updateId"] == {"provider": "fabrikam", "name": "kettle", "version": "2.1.0"}, op)
        expect(op["resourceLocation"].startswith(f"{base}/updates/providers/fabrikam/"), op)
        return detail

    def import_devices():
        family = families["management"]
        op, detail = follow(family, lambda: management.begin_import_devices("All"), family.path)
        expect("update" not in op and "resourceLocation" not in op and "error" not in op, op)
        return detail

    # --- lists, page by page ------------------------------------------------------------------

    def listing(family, filter=None, top=None):
        """Lists through the client page by page and checks the pages against the emulator's
        page size and `nextLink`s, the items against what the emulator holds."""
        mark = recorder.mark()
        kwargs = {k: v for k, v in (("filter", filter), ("top", top)) if v is not None}
        pages = [list(page) for page in family.operations.list_operation_statuses(**kwargs).by_page()]
        sent = [x for x in recorder.since(mark) if x.path == family.path]
        items = [op for page in pages for op in page]
        ids = [op["operationId"] for op in items]

        wanted = [i for i in family.order() if filter is None or family.expected[i] in ("NotStarted", "Running")]
        if top is not None:
            wanted = wanted[:top]
        expect(ids == wanted, f"listed {ids}, expected {wanted}")
        expect(len(set(ids)) == len(ids), f"an operation listed twice: {ids}")
        for op in items:
            expect(op["status"] == family.expected[op["operationId"]], op)
            if family.name == "management":
                expect("update" not in op and "resourceLocation" not in op, op)

        # One request per page, each answered 200 with at most a page of items; every page but
        # the last carries a nextLink that keeps the api-version, the filter and the limit.
        expect(len(sent) == len(pages) == max(1, math.ceil(len(wanted) / page_size)), (len(pages), sent))
        expect(all(len(p) == page_size for p in pages[:-1]), [len(p) for p in pages])
        for n, x in enumerate(sent):
            expect(x.status == 200 and x.query.get("api-version") == version, x)
            expect(len(x.body["value"]) <= page_size, x.body)
            next_link = x.body.get("nextLink")
            if n + 1 < len(sent):
                expect(next_link and f"api-version={version}" in next_link, x.body)
                expect(urlsplit(next_link).netloc in ("", args.endpoint), next_link)
            else:
                expect(not next_link, x.body)
        figures["pages"] += len(pages)
        figures["listed"] += len(ids)
        return f"{len(ids)} operations in {len(pages)} pages of at most {page_size}"

    def resumed(family):
        """A pager started again from the first page's continuation token (its nextLink)
        lists the rest, as an application resuming a listing later would."""
        pager = family.operations.list_operation_statuses().by_page()
        first = [op["operationId"] for op in next(pager)]
        token = pager.continuation_token
        expect(token and f"api-version={version}" in token, token)
        again = family.operations.list_operation_statuses().by_page(continuation_token=token)
        rest = [op["operationId"] for page in again for op in page]
        expect(first + rest == family.order(), (first, rest))
        return f"{len(first)} then {len(rest)} operations"

    def lists(family):
        total = len(family.expected)
        active = sum(s in ("NotStarted", "Running") for s in family.expected.values())
        return [
            (f"{family.name}: list_operation_statuses(), all {total}", lambda: listing(family)),
            (f"{family.name}: list_operation_statuses(filter=...), {active} active", lambda: listing(family, filter=ACTIVE)),
            (f"{family.name}: list_operation_statuses(top={page_size + 1})", lambda: listing(family, top=page_size + 1)),
            (f"{family.name}: list_operation_statuses(top={total + 5})", lambda: listing(family, top=total + 5)),
            (f"{family.name}: list_operation_statuses(filter=..., top=3)", lambda: listing(family, filter=ACTIVE, top=3)),
            (f"{family.name}: list_operation_statuses() resumed from a continuation token", lambda: resumed(family)),
        ]

    # --- device-management operations -----------------------------------------------------------

    def device_failed():
        op = management.get_operation_status("dev-op-failed")
        expect(op["operationId"] == "dev-op-failed" and op["status"] == "Failed", op)
        expect(op["error"]["code"] and op["error"]["message"], op)
        expect("update" not in op and "resourceLocation" not in op, op)
        return op["error"]["code"]

    def device_same_id_other_family():
        device = management.get_operation_status("op-shared-id")
        update = updates.get_operation_status("op-shared-id")
        expect(device["status"] == "Failed" and update["status"] == "Succeeded", (device, update))

    def device_not_modified():
        op = management.get_operation_status("dev-op-running")
        try:
            management.get_operation_status(
                "dev-op-running", etag=op["etag"], match_condition=MatchConditions.IfModified
            )
        except ResourceNotModifiedError as e:
            expect(e.status_code == 304, e)
        else:
            raise AssertionError("expected 304 Not Modified")

    def device_not_found():
        for op_id in ("no-such-operation", "op-running"):
            try:
                management.get_operation_status(op_id)
            except ResourceNotFoundError as e:
                expect(e.status_code == 404, e)
                expect(e.error is not None and e.error.code == "OperationNotFound", e.error)
            else:
                raise AssertionError(f"expected ResourceNotFoundError for {op_id}")

    def unknown_version():
        other = DeviceUpdateClient(
            endpoint=args.endpoint,
            credential=credential,
            instance_id=args.instance,
            api_version="2099-01-01",
            connection_verify=args.cert,
            per_call_policies=[RestoreColon()],
        )
        for read in (
            lambda: other.device_update.get_operation_status("op-running"),
            lambda: list(other.device_update.list_operation_statuses()),
            lambda: list(other.device_management.list_operation_statuses()),
        ):
            try:
                read()
            except HttpResponseError as e:
                expect(e.status_code == 400, e)
                expect(e.error is not None and e.error.code == "UnsupportedApiVersion", e.error)
            else:
                raise AssertionError("expected UnsupportedApiVersion")

    def every_request_at_version():
        api = [x for x in recorder.exchanges if x.path.startswith(base)]
        expect(api, "no request recorded")
        wrong = [x for x in api if x.query.get("api-version") != version]
        expect(not wrong, wrong)
        return f"{len(api)} requests"

    checks.run(f"the installed client is set to api-version {version}", client_version)
    checks.run("updates: get_operation_status, running operation", running)
    checks.run("updates: get_operation_status, If-None-Match gives 304", not_modified)
    checks.run("updates: get_operation_status, succeeded operation", succeeded)
    checks.run("updates: get_operation_status, failed operation with inner errors", failed)
    checks.run("updates: get_operation_status, not started operation", not_started)
    checks.run("updates: get_operation_status, unknown operation is ResourceNotFoundError", not_found)
    checks.run("updates: get_operation_status of every seeded operation", every_seeded(families["updates"]))
    checks.run("updates: begin_import_update(...).result() with the client's poller", import_update)
    for name, check in lists(families["updates"]):
        checks.run(name, check)
    checks.run("management: get_operation_status of every seeded operation", every_seeded(families["management"]))
    checks.run("management: get_operation_status, failed operation with its error", device_failed)
    checks.run("management: get_operation_status, If-None-Match gives 304", device_not_modified)
    checks.run("management: an id of the other family is ResourceNotFoundError", device_not_found)
    checks.run("management: one id in both families, each its own operation", device_same_id_other_family)
    checks.run('management: begin_import_devices("All").result() with the client\'s poller', import_devices)
    for name, check in lists(families["management"]):
        checks.run(name, check)
    checks.run("an unknown api-version is UnsupportedApiVersion", unknown_version)
    checks.run(f"every request carried api-version={version}", every_request_at_version)
    checks.run("the credential was asked for a token", lambda: expect(credential.calls >= 1, credential.calls))

    print(
        f"[{label}] {figures['listed']} operations listed in {figures['pages']} pages; "
        f"{checks.passed} passed, {checks.failed} failed"
    )
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
