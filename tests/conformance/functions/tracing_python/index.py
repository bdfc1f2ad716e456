import json


def handler(event, context):
    tracing = context.tracing
    return json.dumps({
        "spanContext": tracing.span_context,
        "baggages": tracing.span_baggages,
        "jaegerEndpoint": tracing.jaeger_endpoint,
    })
