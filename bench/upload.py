"""CSV uploads of any size: a 100,000-row batch-results CSV of >= 100 MB, with long free-text ``Answer.*``
columns, through the upload path of the offline stack, the parser in a fresh process.

    POST /batches/uploads (signed) → PUT to the presigned URL (moto's S3) → S3 notification → uploads queue →
    local trigger → the parser in its own execution environment (a process started for this run) → PLANNED

Figures:
- ``csv_upload_rows_per_second``: rows / seconds from the PUT's first byte to the batch being PLANNED (the CSV
  sent, read twice from S3, every row validated, MTurk read by HIT page, every row planned and written);
- ``csv_upload_plan_seconds``: those seconds (the dry run of the whole batch);
- ``csv_upload_parser_peak_rss_mb``: the parser process's peak resident memory (``VmHWM``, what Lambda's "Max
  Memory Used" reports), its interpreter and libraries included; its value just after import is reported beside.
The simulator does not throttle (the parser paces its reads at the stack's MTurk rate, 50/s at most).
"""
from __future__ import annotations

import csv
import time
from datetime import timedelta
from pathlib import Path

FUNDS = "1000000.00"
ROWS = 100_000
MIN_BYTES = 100 * 1024 * 1024
PER_HIT = 500
#: Columns of a requester website batch-results export (the Answer.* ones carry free text).
HEADER = ["HITId", "HITTypeId", "Title", "Description", "Keywords", "Reward", "CreationTime", "MaxAssignments",
          "RequesterAnnotation", "AssignmentDurationInSeconds", "AutoApprovalDelayInSeconds", "Expiration",
          "AssignmentId", "WorkerId", "AssignmentStatus", "AcceptTime", "SubmitTime", "AutoApprovalTime",
          "WorkTimeInSeconds", "Input.text_id", "Answer.summary", "Answer.critique", "Answer.comments",
          "Approve", "Reject"]
# One sentence reads better than its list of words.
_WORDS = ("the participant wrote a detailed answer, with commas, \"quoted words\" and a second line\n"  # noqa: SIM905
          "explaining the reasoning behind each label in the image; ").split(" ")


def free_text(n: int, length: int) -> str:
    """Free text of about `length` characters, different for each row (commas, quotes, line breaks)."""
    words = [_WORDS[(n * 7 + i) % len(_WORDS)] for i in range(length // 6)]
    return " ".join(words)[:length]


def seed(sim, key: str, rows: int, per_hit: int) -> list[tuple[str, str, str]]:
    """(HIT, assignment, its status) for `rows` assignments, `per_hit` a HIT: 5 in 6 Submitted, 1 Rejected."""
    submitted = sim.clock.now() - timedelta(days=2)
    seeded = []
    for first in range(0, rows, per_hit):
        hit = sim.add_hit(key, reward="0.05", max_assignments=per_hit)
        for n in range(first, min(rows, first + per_hit)):
            status = "Rejected" if n % 6 == 5 else "Submitted"
            seeded.append((hit, sim.add_assignment(hit, status=status, submitted_at=submitted), status))
    return seeded


def write_csv(path: Path, seeded: list[tuple[str, str, str]], min_bytes: int) -> int:
    """The batch-results CSV of the seeded assignments: an x in Approve on 2 rows in 3 (reversing the Rejected
    ones), a rejection with feedback on the others; answers long enough for the file to reach `min_bytes`."""
    answer = max(100, min_bytes // max(1, len(seeded)) // 3 - 60)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n, (hit, assignment_id, status) in enumerate(seeded):
            approve, reject = ("x", "") if n % 3 else ("", "The summary does not answer the question asked.")
            writer.writerow([hit, "3BENCHTYPE", "Summarize and critique a text", "Read, summarize, critique",
                             "text, summary", "$0.05", "Mon Nov 30 10:00:00 PST 2026", PER_HIT, "BATCH_1", 3600,
                             259200, "Mon Dec 07 10:00:00 PST 2026", assignment_id, f"AW{n % 5000:010d}", status,
                             "Mon Nov 30 10:05:00 PST 2026", "Mon Nov 30 10:25:00 PST 2026",
                             "Thu Dec 03 10:25:00 PST 2026", 1200, f"text-{n}", free_text(n, answer),
                             free_text(n + 1, answer), free_text(n + 2, answer), approve, reject])
    return path.stat().st_size


def peak_rss_mb(pid: int) -> float | None:
    """A process's peak resident set size (Linux VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """A process's CPU time so far (user + system), from /proc."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def parse_only(path: Path) -> dict:
    """The streamed parse alone (one pass, no AWS), in this process: what the parser's CPU does per pass."""
    from mturk_decisions.domain.batch import ResultsCsvStream

    started = time.monotonic()
    with open(path, "rb") as source:
        stream = ResultsCsvStream(source.read)
        rows = sum(1 for _ in stream)
        stream.raise_if_any()
    seconds = time.monotonic() - started
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds)}


def run(stack, api, workdir: Path, rows: int = ROWS, min_bytes: int = MIN_BYTES, timeout: float = 900.0) -> dict:
    import requests

    from bench.bulk import reset_shared_pacer
    from local.stack import DEMO_MTURK_KEY

    sim, key = stack.simulator, DEMO_MTURK_KEY[0]
    reset_shared_pacer(stack)
    sim.set_throttle(None)
    sim.set_latency(0)
    sim.set_balance(key, FUNDS)
    seeded = seed(sim, key, rows, PER_HIT)
    path = workdir / "batch_results_100k.csv"
    size = write_csv(path, seeded, min_bytes)
    parsing = parse_only(path)
    parser = stack.upload_environments
    parser.warm(1)
    [pid] = parser.pids
    rss_after_import, cpu_before = peak_rss_mb(pid), cpu_seconds(pid)
    created = api.post("/batches/uploads", {"contentLength": size, "reason": "bench: 100k upload"})
    if created.status_code != 201:
        raise RuntimeError(f"POST /batches/uploads answered {created.status_code}: {created.text[:500]}")
    batch_id, target = created.json()["batchId"], created.json()["upload"]
    started, own_cpu = time.monotonic(), time.process_time()
    with open(path, "rb") as body:
        put = requests.put(target["url"], data=body, headers=target["headers"], timeout=600)
    put.raise_for_status()
    uploaded = time.monotonic()
    phase = _wait_until_settled(stack, batch_id, started + timeout)
    settled, own_cpu = time.monotonic(), time.process_time() - own_cpu
    state = api.get(f"/batches/{batch_id}/plan?limit=1").json()
    if phase != "PLANNED":
        raise RuntimeError(f"the upload did not plan ({phase}): {str(state)[:1000]}")
    seconds = settled - started
    return {
        "rows": rows, "bytes": size, "megabytes": round(size / 1_048_576, 1), "hits": len({h for h, _, _ in seeded}),
        "put_seconds": round(uploaded - started, 2), "plan_seconds": round(seconds, 2),
        "rows_per_second": rows / seconds, "parser_pid": pid, "parser_peak_rss_mb": peak_rss_mb(pid),
        "parser_rss_after_import_mb": rss_after_import, "parse_only_one_pass": parsing,
        "parser_cpu_seconds": round((cpu_seconds(pid) or 0) - (cpu_before or 0), 2),
        "stack_cpu_seconds": round(own_cpu, 2),  # this process: moto, the simulator, the gateway, the triggers
        "mturk_list_pages": sim.count_calls("ListAssignmentsForHIT", access_key_id=key),
        "mturk_get_assignment_calls": sim.count_calls("GetAssignment", access_key_id=key),
        "totals": (state.get("plan") or {}).get("totals"),
    }


def _wait_until_settled(stack, batch_id: str, deadline: float) -> str:
    """The batch's phase once it is neither AWAITING_UPLOAD nor PARSING, read from its META item (one GetItem:
    polling the API would add its own reads to the time measured)."""
    from local.stack import REGION
    from mturk_decisions.adapters.batch_store import DynamoBatchStore

    store = DynamoBatchStore.for_table(stack.env["BATCH_TABLE_NAME"], REGION, stack.moto_url)
    while True:
        phase = store.info(batch_id).phase
        if phase not in ("AWAITING_UPLOAD", "PARSING") or time.monotonic() > deadline:
            return phase
        time.sleep(0.2)
