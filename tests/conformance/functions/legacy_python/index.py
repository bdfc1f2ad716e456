import sys


def handler(event, context):
    return "%s on %d.%d" % (context.function.name, sys.version_info[0], sys.version_info[1])
