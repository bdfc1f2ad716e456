import os


def handler(event, context):
    if isinstance(event, dict):  # an HTTP trigger's WSGI environ
        start_response = context
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{os.environ['GREETING']} over HTTP".encode()]
    return f"{os.environ['GREETING']}: {event.decode()}"
