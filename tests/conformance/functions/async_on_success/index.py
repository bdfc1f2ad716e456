import json


def source(event, context):
    return {"order": event.decode(), "status": "paid"}


def sink(event, context):
    record = json.loads(event)
    answer = json.loads(record["responsePayload"])
    print("on success: %s %s from %s" % (answer["order"], answer["status"], record["requestContext"]["functionArn"]))
    return "ok"
