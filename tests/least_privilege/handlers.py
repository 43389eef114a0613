"""A handler for the recording hook's test: AWS calls through every kind of client the service uses."""
from __future__ import annotations

import json
import os

#: Values that must never reach the call log (an item attribute, a message body, the secret's value).
PRIVATE = ("worker-feedback-PRIVATE", "message-body-PRIVATE", "secret-value-PRIVATE")


def aws_calls(event: dict, context) -> dict:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from botocore.config import Config
    from pynamodb.attributes import UnicodeAttribute
    from pynamodb.models import Model
    from pynamodb.transactions import TransactWrite

    endpoint, region = os.environ["RECORDER_ENDPOINT"], "us-east-1"
    table, queue, secret, bus = event["table"], event["queue"], event["secret"], event["bus"]
    boto3.client("dynamodb").put_item(TableName=table, Item={"id": {"S": "1"}, "feedback": {"S": PRIVATE[0]}})

    class Item(Model):  # PynamoDB: its own botocore session and client
        class Meta:
            table_name, host = table, endpoint
            region = "us-east-1"
        id = UnicodeAttribute(hash_key=True)
        feedback = UnicodeAttribute(null=True)

    Item("2", feedback=PRIVATE[0]).save()
    with TransactWrite(connection=Item._get_connection().connection) as transaction:
        transaction.save(Item("3", feedback=PRIVATE[0]))
        transaction.update(Item("2"), actions=[Item.feedback.set(PRIVATE[0])])
    list(Item.query("2"))
    boto3.client("sqs").send_message_batch(QueueUrl=queue, Entries=[{"Id": "0", "MessageBody": PRIVATE[1]}])
    boto3.client("events").put_events(Entries=[{"EventBusName": bus, "Source": "s", "DetailType": "d",
                                                "Detail": json.dumps({"body": PRIVATE[1]})}])
    assert SecretsProvider(boto3_session=boto3.session.Session()).get(secret) == PRIVATE[2]
    mturk = boto3.session.Session().client(
        "mturk", region_name=region, endpoint_url="http://127.0.0.1:9", aws_access_key_id="K",
        aws_secret_access_key="S", config=Config(retries={"total_max_attempts": 1}, connect_timeout=0.5))
    try:
        mturk.get_account_balance()
    except Exception:
        pass
    return {"ok": True}
