"""Runs Microsoft's official Python client (azure-iot-deviceupdate) against
a running adu-emulator in https mode and checks what it gets back.

Usage: check_emulator.py --endpoint localhost:PORT --cert CERT.pem
       [--instance blue] [--tenant emulator] [--client-id ID] [--client-secret SECRET]

The emulator must have been started with a scenario holding the operations
`op-running`, `op-succeeded` and `op-failed`. Prints `N passed, M failed`
last and exits non-zero if anything failed.
"""

import argparse
import re
import sys
import time
import traceback

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError, ResourceNotModifiedError
from azure.iot.deviceupdate import DeviceUpdateClient
from emulator_peer import EmulatorCredential, RestoreColon

API_VERSION = "2022-10-01"




class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 - report every failure and go on
            self.failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
        else:
            self.passed += 1
            print(f"ok   {name}")


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--instance", default="blue")
    parser.add_argument("--tenant", default="emulator")
    parser.add_argument("--client-id", default="adu-emulator")
    parser.add_argument("--client-secret", default="adu-emulator-secret")
    args = parser.parse_args()

    credential = EmulatorCredential(
        args.endpoint, args.cert, args.tenant, args.client_id, args.client_secret
    )
    client = DeviceUpdateClient(
        endpoint=args.endpoint,
        credential=credential,
        instance_id=args.instance,
        api_version=API_VERSION,
        connection_verify=args.cert,
        per_call_policies=[RestoreColon()],
        polling_interval=1,
    )
    updates = client.device_update
    checks = Checks()

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
        expect(op["status"] == "Succeeded", op)
        expect(
            op["resourceLocation"].startswith(f"/deviceUpdate/{args.instance}/updates/providers/"),
            op,
        )
        expect("error" not in op, op)

    def failed():
        op = updates.get_operation_status("op-failed")
        expect(op["status"] == "Failed", op)
        error = op["error"]
        expect(error["code"] and error["message"] and error["occurredDateTime"], error)
        inner = error.get("innererror") or error.get("innerError")
        while inner.get("innerError"):
            inner = inner["innerError"]
        expect("403" in inner["errorDetail"], inner)

    def not_found():
        try:
            updates.get_operation_status("no-such-operation")
        except ResourceNotFoundError as e:
            expect(e.status_code == 404, e)
            expect(e.error is not None and e.error.code == "OperationNotFound", e.error)
        else:
            raise AssertionError("expected ResourceNotFoundError")

    def import_update():
        item = {
            "importManifest": {
                "url": "https://storage.example/fabrikam.kettle.2.1.0.importmanifest.json",
                "sizeInBytes": 453,
                "hashes": {"sha256": "Q2xCdXZ5cWxOZkRvR2pMMFJqOHM3aW5aSzJIZkFIZzY="},
            },
            "files": [{"filename": "kettle.swu", "url": "https://storage.example/kettle.swu"}],
        }
        started = time.monotonic()
        poller = updates.begin_import_update([item])
        result = poller.result(timeout=60)
        expect(result is None, result)
        expect(poller.done(), "poller not done")
        expect(poller.status().lower() == "succeeded", poller.status())
        expect(time.monotonic() - started < 60, "import took too long")

    checks.run("get_operation_status: running operation", running)
    checks.run("get_operation_status: If-None-Match gives 304", not_modified)
    checks.run("get_operation_status: succeeded operation", succeeded)
    checks.run("get_operation_status: failed operation with inner errors", failed)
    checks.run("get_operation_status: unknown operation is ResourceNotFoundError", not_found)
    checks.run("begin_import_update(...).result() with the SDK's poller", import_update)
    checks.run("the credential was asked for a token", lambda: expect(credential.calls >= 1, credential.calls))

    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
