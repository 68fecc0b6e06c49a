# Test-only ICMP echo responder, run inside a test's network namespace with
# net.ipv4.icmp_echo_ignore_all=1.  Per destination address: "up" answers,
# "half" answers every second request (exactly 50% loss), "slow" answers
# after 40 ms; anything else is never answered.
# usage: icmp_responder.py up=A,B,... half=... slow=...
import heapq, select, socket, struct, sys, time

policy = {}
for arg in sys.argv[1:]:
    kind, _, addrs = arg.partition('=')
    for a in filter(None, addrs.split(',')):
        policy[a] = kind

rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
seen = {}
later = []


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def reply(src, dst, icmp):
    body = b'\0\0\0\0' + icmp[4:]
    body = body[:2] + struct.pack('!H', csum(body)) + body[4:]
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(body), 0, 0, 64, 1,
                      0, socket.inet_aton(dst), socket.inet_aton(src))
    tx.sendto(hdr + body, (src, 0))


print('ready', flush=True)
while True:
    timeout = max(0, later[0][0] - time.time()) if later else 1.0
    r, _, _ = select.select([rx], [], [], timeout)
    now = time.time()
    while later and later[0][0] <= now:
        _, _, args = heapq.heappop(later)
        reply(*args)
    if not r:
        continue
    pkt = rx.recv(65535)
    ihl = (pkt[0] & 0x0f) * 4
    src = socket.inet_ntoa(pkt[12:16])
    dst = socket.inet_ntoa(pkt[16:20])
    icmp = pkt[ihl:]
    if len(icmp) < 8 or icmp[0] != 8:
        continue
    kind = policy.get(dst)
    if kind == 'up':
        reply(src, dst, icmp)
    elif kind == 'half':
        seen[dst] = seen.get(dst, 0) + 1
        if seen[dst] % 2 == 0:
            reply(src, dst, icmp)
    elif kind == 'slow':
        heapq.heappush(later, (now + 0.04, id(icmp), (src, dst, icmp)))
