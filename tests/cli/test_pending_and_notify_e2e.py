"""`pending` and `reverse --notify-*` end to end: real signing, the local gateway, the handler, moto, the simulator."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta


def test_given_a_scheduled_reversal_then_pending_lists_it_with_its_hit_and_worker(cli, sim, seed):
    # Given a reversal scheduled for tomorrow, of a known worker
    worker = "A" + uuid.uuid4().hex[:12].upper()
    assignment_id = seed("Rejected", days_ago=2, worker_id=worker)
    hit_id = sim.get_assignment_state(assignment_id).hit_id
    at = (sim.clock.now() + timedelta(days=1)).isoformat()
    assert cli("reverse", assignment_id, "--at", at).exit_code == 0
    # When the HIT's pending reversals are listed, as a table and as JSON
    table = cli("pending", "--hit", hit_id)
    listed = json.loads(cli("--json", "pending", "--hit", hit_id, "--kind", "scheduled").stdout)
    # Then both show it
    assert table.exit_code == 0, table.output
    assert assignment_id in table.stdout and worker in table.stdout and "scheduled" in table.stdout
    assert [(s["assignmentId"], s["workerId"]) for s in listed["scheduledReversals"]] == [(assignment_id, worker)]


def test_given_reverse_with_notify_options_then_the_worker_is_told_and_show_says_so(cli, sim, seed):
    # Given a recent rejection
    worker = "A" + uuid.uuid4().hex[:12].upper()
    assignment_id = seed("Rejected", days_ago=2, worker_id=worker)
    # When it is reversed with a message to the worker
    result = cli("reverse", assignment_id, "--reason", "QA rule 7 was wrong", "--notify-subject",
                 "Your rejected work was approved", "--notify-message", "We reversed it. Thank you.")
    # Then the simulator holds the message, and the CLI and `show` say the worker was told
    assert result.exit_code == 0, result.output
    assert "worker told" in result.stdout and "sent" in result.stdout
    assert [m.subject for m in sim.worker_messages(worker)] == ["Your rejected work was approved"]
    shown = cli("show", assignment_id)
    assert "Your rejected work was approved" in shown.stdout
