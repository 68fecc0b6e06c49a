# webhook_sink: an HTTP receiver for the alert tests; each POST body is
# written to DIR/NNNN.json; the answer status is read from DIR/status;
# every POST, whatever its answer, adds its path to DIR/hits.
import http.server
import os
import sys

port, out = int(sys.argv[1]), sys.argv[2]
count = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(os.path.join(out, "hits"), "a") as f:
            f.write(self.path + "\n")
        status = 200
        try:
            with open(os.path.join(out, "status")) as f:
                status = int(f.read().strip())
        except OSError:
            pass
        if status == 200:
            count[0] += 1
            tmp = os.path.join(out, ".%04d.tmp" % count[0])
            with open(tmp, "wb") as f:
                f.write(body)
            os.rename(tmp, os.path.join(out, "%04d.json" % count[0]))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", port), Handler)
print("ready", flush=True)
srv.serve_forever()
