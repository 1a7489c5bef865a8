"""A flaky front for an S3 server: answers every other request with 503 SlowDown (or with
500 InternalError, or by dropping the connection, in turn) and forwards the rest unchanged,
headers included, so SigV4 signatures still verify upstream.

    python3 flaky_proxy.py UPSTREAM_PORT   -> prints "listening PORT", then serves until killed

GET /__proxy/stats answers {"failed": N, "forwarded": M}.
"""
import http.client
import http.server
import json
import signal
import sys
import threading

# Started from a test process whose thread may block SIGTERM: take it back, so stopping works.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])

upstream_port = int(sys.argv[1])
lock = threading.Lock()
state = {"seen": 0, "failed": 0, "forwarded": 0}
FAILURES = [
    (503, "SlowDown", "Please reduce your request rate."),
    (500, "InternalError", "We encountered an internal error. Please try again."),
    None,  # drop the connection without answering
]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/__proxy/stats":
            payload = json.dumps({"failed": state["failed"], "forwarded": state["forwarded"]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        with lock:
            state["seen"] += 1
            turn = state["seen"]
            fail = turn % 2 == 1
            if fail:
                state["failed"] += 1
                failure = FAILURES[(turn // 2) % len(FAILURES)]
            else:
                state["forwarded"] += 1
        if fail:
            if failure is None:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, code, message = failure
            payload = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        connection = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
        headers = {name: value for name, value in self.headers.items()}
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        # A HEAD answer keeps the object's length; any other answer has the body just read.
        length = response.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data))
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        connection.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("listening", server.server_address[1], flush=True)
server.serve_forever()
