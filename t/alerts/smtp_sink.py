# smtp_sink: a real SMTP server (aiosmtpd) for the alert tests; each message
# received is written to DIR/NNNN.eml with its envelope in X-Sink- headers.
import os
import signal
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out):
        self.out = out
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        tmp = os.path.join(self.out, ".%04d.tmp" % self.n)
        with open(tmp, "wb") as f:
            f.write(b"X-Sink-From: " + envelope.mail_from.encode() + b"\r\n")
            f.write(b"X-Sink-To: " + ",".join(envelope.rcpt_tos).encode()
                    + b"\r\n")
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.out, "%04d.eml" % self.n))
        return "250 OK"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    c = Controller(Sink(out), hostname="127.0.0.1", port=port)
    c.start()
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        while True:
            signal.pause()
    finally:
        c.stop()


main()
