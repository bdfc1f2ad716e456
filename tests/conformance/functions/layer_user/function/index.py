# The layer's python/ directory is unpacked under /opt, and /opt/python is on sys.path.
import shout


def handler(event, context):
    return shout.shout(event.decode()) + " from " + shout.__file__
