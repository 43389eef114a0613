"""The CLI's one output path (`Renderer.emit` of an `Output`), its typed view of the API's answers, its table
of hints, and the public seam that gives it a fake API (`App(client_factory=...)`)."""
from __future__ import annotations

import json

from click.testing import CliRunner

from mturk_decisions_cli.app import App
from mturk_decisions_cli.client import ApiResponse
from mturk_decisions_cli.errors import HINTS, ApiError, hint_for
from mturk_decisions_cli.main import cli
from mturk_decisions_cli.models import BatchPlan, BatchStatus, DecisionAnswer, Schedule
from mturk_decisions_cli.render import Output, Renderer


class _OneAnswer:
    """A client that answers every request with the same JSON."""

    def __init__(self, body: dict) -> None:
        self.body, self.paths = body, []

    def request(self, method, path, **_kwargs) -> ApiResponse:
        self.paths.append((method, path))
        return ApiResponse(200, self.body)


def test_given_a_client_factory_when_a_command_runs_then_it_talks_to_that_client_and_json_is_the_answer():
    # Given an App whose client factory hands out a fake answering one JSON document
    fake = _OneAnswer({"assignment": {"assignmentId": "A1", "status": "Submitted"}, "history": []})
    # When `show --json` runs with it
    result = CliRunner().invoke(cli, ["--json", "show", "A1"], obj=App(client_factory=lambda _app: fake))
    # Then the fake was asked, and stdout is exactly its answer
    assert result.exit_code == 0, result.output
    assert fake.paths == [("GET", "/assignments/A1")]
    assert json.loads(result.stdout) == fake.body


def test_given_json_mode_when_an_answer_for_people_only_is_emitted_then_stdout_stays_empty(capsys):
    # Given a renderer in JSON mode
    renderer = Renderer(json_mode=True)
    # When a line meant only for people, then a document, are emitted
    renderer.emit(Output.for_people(lambda r: r.line("Watching batch b1...")))
    renderer.emit(Output({"batchId": "b1"}, lambda r: r.line("not shown")))
    # Then only the document reached stdout
    out = capsys.readouterr().out
    assert json.loads(out) == {"batchId": "b1"} and "Watching" not in out and "not shown" not in out


def test_given_answers_with_missing_or_odd_fields_when_parsed_then_nothing_raises_and_counts_are_numbers():
    # Given answers a newer or older API could send
    odd_batch = {"status": "running", "counts": {"failed": "2", "refused": None}, "items": ["x", {"line": 3}]}
    odd_plan = {"plan": {"items": [{"outcome": "refused", "code": "HIT_DISPOSED"}, {"outcome": "skip"}],
                         "totals": {"reject": "1"}}}
    # When they are parsed
    batch, plan = BatchStatus.parse(odd_batch), BatchPlan.parse(odd_plan)
    answer, schedule = DecisionAnswer.parse({"scheduledReversal": {"state": "PENDING"}}), Schedule.of({})
    # Then the values are typed, with defaults where the answer says nothing
    assert batch.state == "RUNNING" and batch.count("failed") == 2 and batch.count("refused") == 0
    assert [item.line for item in batch.items] == [3]
    assert plan.counts == {"reject": 1, "reverse": 0, "approve": 0, "refused": 1, "skipped": 1}
    assert plan.actionable == 1 and plan.refused[0].code == "HIT_DISPOSED"
    assert not answer.decided and answer.schedule is not None and answer.schedule.pending
    assert schedule is None


def test_given_every_code_of_the_hint_table_when_its_hint_is_asked_then_it_is_a_sentence():
    # Given an error of each code the table knows, with no details
    errors = [ApiError(409, {"code": code, "message": "m"}) for code in HINTS]
    # When their hints are asked
    hints = [hint_for(error) for error in errors]
    # Then each is a sentence, and none is the generic fallback
    assert all(hint.endswith((".", ")")) for hint in hints), hints
    assert "The API refused the request; nothing was changed." not in hints
