# An HTTP-trigger function as FC users write them: a plain WSGI callable whose return value
# takes every shape FC accepts. The path picks the shape; /closed tells whether the previous
# response's iterable was closed.
closed = []


class Body:
    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        closed.append(True)


def handler(environ, start_response):
    path = environ["PATH_INFO"]
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    if path == "/bytes":
        return b"hello bytes"
    if path == "/bytearray":
        return bytearray(b"hello bytearray")
    if path == "/str":
        return "hello str, 你好"
    if path == "/list":
        return [b"hello ", b"list"]
    if path == "/generator":
        return (part for part in (b"hello ", b"generator"))
    if path == "/closing":
        return Body([b"hello ", b"closing"])
    if path == "/closed":
        return [str(len(closed)).encode()]
    return [b"unknown"]
