"""Interleavings: two writers race on one assignment, with crashes and MTurk faults injected at random.

Randomized trials (200 in CI, 1,000 with RELIABILITY_LONG=1) over the real DecisionService, audit store
(moto, serialized like DynamoDB), schedule store and MTurk gateway (simulator in process). Each trial
starts two intents on one assignment at once in two threads — two rejects with different feedback, a
reject against an approve, two reversals, a sweep against a confirm or cancel — with a crash armed at a
random step of the protocol and faults before or after MTurk's writes; then the reconciler runs (with its
clock past every lease). After every trial, from the simulator's call log and the audit:

- one SUCCEEDED record per MTurk write that took effect, and none without one;
- each SUCCEEDED record's feedback is the feedback MTurk stored with that write;
- nothing left PENDING;
- a schedule's final state agrees with MTurk (DONE ⇔ the rejection was reversed; CONFIRMED/CANCELLED ⇒ not).
"""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from mturk_decisions.adapters.schedule_store import DynamoScheduleStore
from mturk_decisions.domain.errors import DecisionError
from mturk_decisions.domain.model import Action, DecisionRequest, Source
from mturk_decisions.service.decisions import DecisionService
from mturk_decisions.service.schedules import ReversalScheduler
from tests.reliability.harness import STEPS, WRITES, Crash, make_reconciler, rng_for, scaled

TRIALS = scaled(200, 1000)
ACTOR = "arn:aws:iam::000000000000:user/interleaving"
PAIRS = (("reject", "reject"), ("reject", "approve"), ("approve", "approve"), ("reverse", "reverse"),
         ("sweep", "confirm"), ("sweep", "cancel"), ("sweep", "sweep"))


def _applied_writes(sim, assignment_id: str, key: str) -> list:
    return [c for c in sim.calls(access_key_id=key)
            if c.operation in WRITES and c.applied and c.params.get("AssignmentId") == assignment_id]


def check_truth(sim, audit, assignment_id: str, key: str) -> list[str]:
    """The audit tells the truth about every MTurk write of this assignment (see the module docstring)."""
    writes = _applied_writes(sim, assignment_id, key)
    records = audit.history(assignment_id)
    succeeded = [r for r in records if r.state.value == "SUCCEEDED"]
    problems = []
    if len(succeeded) != len(writes):
        problems.append(f"{len(succeeded)} SUCCEEDED record(s) for {len(writes)} applied write(s): "
                        f"{[(r.action.value, r.state.value, r.feedback) for r in records]} vs "
                        f"{[(w.operation, w.params.get('RequesterFeedback')) for w in writes]}")
    for record in succeeded:
        operation = "RejectAssignment" if record.action is Action.REJECT else "ApproveAssignment"
        matching = [w for w in writes if w.operation == operation]
        if matching and record.feedback is not None and matching[0].params.get("RequesterFeedback") != record.feedback:
            problems.append(f"SUCCEEDED {record.action.value} holds feedback {record.feedback!r}, MTurk stored "
                            f"{matching[0].params.get('RequesterFeedback')!r}")
    if any(r.state.value == "PENDING" for r in records):
        problems.append(f"PENDING after reconciliation: {[(r.action.value, r.state.value) for r in records]}")
    return problems


def _race(*actions) -> list[str]:
    """Run the actions at once (a barrier starts them together); the outcome of each, as a short text."""
    barrier, outcomes = threading.Barrier(len(actions)), [""] * len(actions)

    def run(index: int, action) -> None:
        barrier.wait()
        try:
            outcomes[index] = f"ok:{action()}"
        except Crash:
            outcomes[index] = "crash"
        except DecisionError as error:
            outcomes[index] = error.code

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


class Trial:
    def __init__(self, world, scheduler, rng, index: int) -> None:
        self.world, self.scheduler, self.rng, self.index = world, scheduler, rng, index

    def request(self, action: str, assignment_id: str) -> DecisionRequest:
        feedback = (f"feedback {self.index}-{self.rng.randrange(1000)}" if action == "reject"
                    else self.rng.choice([None, f"reversed {self.index}"]))
        return DecisionRequest(assignment_id=assignment_id, action=Action(action), feedback=feedback,
                               reason=f"interleaving {self.index}", actor=ACTOR, source=Source.API)

    def seed(self, status: str) -> str:
        sim = self.world.sim
        hit = sim.add_hit(self.world.key, reward="0.50", max_assignments=1)
        return sim.add_assignment(hit, status=status, submitted_at=sim.clock.now() - timedelta(days=2))

    def intents(self, first: str, second: str) -> tuple[str, list]:
        if first == "sweep":
            return self._schedule_race(second)
        status = "Rejected" if first == "reverse" else "Submitted"
        assignment_id = self.seed(status)
        service = self.world.service
        return assignment_id, [lambda a=a: service.decide(self.request(a, assignment_id)).record.state.value
                               for a in (first, second)]

    def _schedule_race(self, other: str) -> tuple[str, list]:
        assignment_id = self.seed("Submitted")
        self.scheduler.reject_provisionally(self.request("reject", assignment_id), timedelta(hours=1))
        self.world.sim.clock.advance(hours=2)
        opponent = {"confirm": lambda: self.scheduler.confirm(assignment_id).state,
                    "cancel": lambda: self.scheduler.cancel(assignment_id).state,
                    "sweep": lambda: len(self.scheduler.sweep().reversed)}[other]
        return assignment_id, [lambda: len(self.scheduler.sweep().reversed), opponent]


def _schedule_agrees(scheduler, sim, assignment_id: str) -> list[str]:
    schedule = scheduler.get(assignment_id)
    if schedule is None:
        return []
    status = sim.get_assignment_state(assignment_id).status
    if schedule.state == "DONE" and status != "Approved":
        return [f"schedule DONE but MTurk shows {status}"]
    if schedule.state in ("CONFIRMED", "CANCELLED") and status == "Approved":
        return [f"schedule {schedule.state} but the rejection was reversed"]
    return []


def test_two_writers_at_once_with_crashes_and_faults_leave_a_truthful_audit(crash_world, stack):
    # Given
    world = crash_world
    rng = rng_for("interleavings")
    store = DynamoScheduleStore.for_table(world.names["SCHEDULE_TABLE_NAME"], "us-east-1", world.moto_url)
    scheduler = ReversalScheduler(DecisionService(world.gateway, world.crashing_audit, clock=world.sim.clock.now),
                                  store, clock=world.sim.clock.now)
    failures, tally = [], Counter()
    # When two writers race on each assignment, with crashes and faults
    for index in range(TRIALS):
        pair = rng.choice(PAIRS)
        trial = Trial(world, scheduler, rng, index)
        assignment_id, actions = trial.intents(*pair)
        step = rng.choice((*STEPS, None, None))
        world.crash.arm(step, assignment_id)
        when = rng.choice([None, "before", "after"])
        world.sim.set_fault_rate(0.3 if when else None, when=when or "before", seed=rng.randrange(1 << 30))
        outcomes = _race(*actions)
        world.crash.disarm()
        world.sim.set_fault_rate(None)
        tally[f"{pair[0]}|{pair[1]}: {sorted(outcomes)}"] += 1
        make_reconciler(world.gateway, world.audit, world.sim.clock.now).run()
        problems = check_truth(world.sim, world.audit, assignment_id, world.key)
        problems += _schedule_agrees(scheduler, world.sim, assignment_id)
        if problems:
            failures.append(f"{pair} step={step} faults={when} outcomes={outcomes}: " + "; ".join(problems))
    # Then
    seed = f"RELIABILITY_SEED={rng.seed_value}"
    assert not failures, f"{seed}\n{len(failures)} of {TRIALS} trials broke the audit's truth:\n" + "\n".join(failures[:10])
    print(f"{TRIALS} interleaved trials: {len(tally)} distinct outcomes")
