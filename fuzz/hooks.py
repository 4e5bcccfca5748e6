"""Schemathesis hooks for Countersign's fuzz run (see fuzz/run.sh).

An Idempotency-Key replays the first answer for the same request and refuses
a different request under the same key (422, as the IETF draft says). A fuzzer
that reuses one valid key for different requests therefore meets that refusal
by design; each valid key is made unique per request so the rest of the
operation is tested. Keys that are not valid stay as generated, so the check
that invalid keys are refused still runs.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.match(key):
        headers["Idempotency-Key"] = f"fuzz-{uuid.uuid4()}"
