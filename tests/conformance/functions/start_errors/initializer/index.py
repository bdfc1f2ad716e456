def initializer(context):
    raise RuntimeError("cannot reach the database")


def handler(event, context):
    return "never"
