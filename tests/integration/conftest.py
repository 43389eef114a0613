"""One offline stack per test session: moto server, MTurk simulator and local gateway in threads."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.stack import DEMO_MTURK_KEY, DEMO_PRINCIPAL, OfflineStack


class SignedApi:
    """What a requester's script does: SigV4-sign each call to the API (service execute-api)."""

    def __init__(self, base_url: str, access_key: str, secret_key: str) -> None:
        self.base_url = base_url
        self.credentials = Credentials(access_key, secret_key)

    def request(self, method: str, path: str, body=None, headers=None, raw: bytes | None = None, sign=True):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        request = AWSRequest(method=method, url=self.base_url + path, data=data,
                             headers={"Content-Type": "application/json", **(headers or {})})
        if sign:
            SigV4Auth(self.credentials, "execute-api", "us-east-1").add_auth(request)
        prepared = request.prepare()
        return requests.request(method, prepared.url, data=data, headers=dict(prepared.headers), timeout=30)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture(scope="session")
def stack():
    with OfflineStack() as running:
        yield running


@pytest.fixture()
def sim(stack):
    """The simulator with default knobs and a fresh $100 balance for every test."""
    simulator = stack.simulator
    simulator.set_balance(DEMO_MTURK_KEY[0], "100.00")
    simulator.set_throttle(None)
    simulator.set_fault_rate(None)
    simulator.set_latency(0)
    simulator.clock.reset()
    yield simulator
    simulator.set_throttle(None)
    simulator.set_fault_rate(None)
    simulator.set_latency(0)
    simulator.clock.reset()


@pytest.fixture()
def api(stack):
    return SignedApi(stack.gateway.url, DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)


@pytest.fixture()
def seed(sim):
    """Seed one HIT of the demo requester with an assignment in a given state and age."""

    def _seed(status="Submitted", days_ago=1.0, reward="0.50", max_assignments=3, hit_status=None, worker_id=None,
              hit_id=None):
        hit = hit_id or sim.add_hit(DEMO_MTURK_KEY[0], reward=reward, max_assignments=max_assignments)
        assignment_id = sim.add_assignment(hit, worker_id=worker_id, status=status,
                                           submitted_at=sim.clock.now() - timedelta(days=days_ago))
        if hit_status:
            sim.set_hit_status(hit, hit_status)
        return assignment_id

    return _seed
