# A custom-runtime server as FC's docs show it, started with customRuntimeConfig
# {"command": ["python", "app.py"]}: FC's image has `python` on PATH.
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        event = self.rfile.read(length)
        rid = self.headers.get("x-fc-request-id", "")
        print("FC Invoke Start RequestId: " + rid, flush=True)
        body = ("python %d.%d got %s" % (sys.version_info[0], sys.version_info[1], event.decode())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("FC Invoke End RequestId: " + rid, flush=True)


HTTPServer(("0.0.0.0", int(os.environ.get("FC_CUSTOM_LISTEN_PORT", "9000"))), Handler).serve_forever()
