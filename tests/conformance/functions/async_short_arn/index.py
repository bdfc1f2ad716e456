import json


def fail(event, context):
    raise ValueError("source failed on " + event.decode())


def sink(event, context):
    record = json.loads(event)
    print("destination got %s from %s" % (record["requestPayload"], record["requestContext"]["functionArn"]))
    return "ok"
