# A WSGI app served by gunicorn in a custom runtime; the build pip-installs gunicorn into the
# code directory and customRuntimeConfig runs ["python", "-m", "gunicorn", ...].
import gunicorn


def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/invoke":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        event = environ["wsgi.input"].read(length).decode()
        rid = environ.get("HTTP_X_FC_REQUEST_ID", "")
        print("FC Invoke Start RequestId: " + rid, flush=True)
        body = ("gunicorn %s got %s" % (gunicorn.__version__, event)).encode()
        print("FC Invoke End RequestId: " + rid, flush=True)
    else:
        body = b"ok"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
