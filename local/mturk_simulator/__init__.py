"""A local MTurk Requester API that boto3 talks to unchanged.

    sim = MTurkSimulator()
    sim.add_requester("SIMKEYREQUESTER1", "sim-secret", balance="100.00")
    hit_id = sim.add_hit("SIMKEYREQUESTER1", reward="0.50")
    assignment_id = sim.add_assignment(hit_id)
    with SimulatorServer(sim) as server:
        mturk = boto3.client("mturk", region_name="us-east-1", endpoint_url=server.url,
                             aws_access_key_id="SIMKEYREQUESTER1", aws_secret_access_key="sim-secret")
        mturk.reject_assignment(AssignmentId=assignment_id, RequesterFeedback="Incomplete")

Or as a process: ``python -m local.mturk_simulator --port 8799 [--sqs-endpoint URL]``. See
README.md in this folder for the supported operations, the rules, notifications to SQS and
the ``/_admin/`` endpoint.
"""

from .calllog import CallRecord
from .clock import Clock
from .errors import ApiError
from .model import HIT, Assignment
from .notifications import NotificationRecord
from .rules import mturk_fee
from .server import SimulatorServer
from .simulator import MTurkSimulator

__all__ = [
    "HIT",
    "ApiError",
    "Assignment",
    "CallRecord",
    "Clock",
    "MTurkSimulator",
    "NotificationRecord",
    "SimulatorServer",
    "mturk_fee",
]
