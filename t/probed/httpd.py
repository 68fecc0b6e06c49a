# Test-only HTTP(S) server for t/probed: /ok, /slow, /500, /kw.
# usage: httpd.py PORT [CERT KEY]
import http.server, socketserver, ssl, sys, time

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == '/slow':
            time.sleep(0.4)
        code = 500 if self.path == '/500' else 200
        body = b'hello devmon world' if self.path != '/500' else b'oops'
        self.send_response(code)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

srv = S(('127.0.0.1', int(sys.argv[1])), H)
if len(sys.argv) > 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print('ready', flush=True)
srv.serve_forever()
