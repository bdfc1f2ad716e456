from greeting import GREETING


def handler(event, context):
    return GREETING
