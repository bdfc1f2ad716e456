import json


def handler(environ, start_response):
    tracing = environ["fc.context"].tracing
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"spanContext": tracing.span_context, "baggages": tracing.span_baggages}).encode()]
