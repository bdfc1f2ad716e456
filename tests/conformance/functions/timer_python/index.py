import json


def handler(event, context):
    evt = json.loads(event)
    print("timer %s fired at %s with %s" % (evt["triggerName"], evt["triggerTime"], evt["payload"]))
    return "ok"
