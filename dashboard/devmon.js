/* devmon.js: WebSocket client for devmon (resume, backoff, token renewal). */

/*
 * An ES module with no dependencies, usable by any page or front end:
 *
 *     import { DevmonClient } from './devmon.js';
 *
 *     const client = new DevmonClient({
 *         url: 'wss://example.net/ws',
 *         getToken: async () => fetchMyToken()
 *     });
 *     client.addEventListener('event', (e) => draw(e.detail));
 *     client.start();
 *
 * The token travels only in the WebSocket subprotocol list
 * ("devmon.v1, bearer.<jwt>") and in "auth" messages on the socket.
 *
 * Events dispatched (CustomEvent, payload in .detail):
 *   status     { status, previous, reason }  live | reconnecting | offline
 *              | connecting | stopped; debounced, see STATUS below
 *   hello      the server's hello message
 *   snapshot   { reset, devices, state }  the client state was replaced
 *   reset      the resume point was gone: history was missed
 *   epoch      { type: "epoch", epoch }  the account's first history began
 *              (sent before its first event when hello had epoch "")
 *   event      a probe result { id, d, r, k, st, rt, pl, ... }; its time
 *              is eventTime(e): "t" if present (published late), else the
 *              id's milliseconds
 *   state      a state change { type: "state", id, d, r, st, was, er }
 *   device     { d, status, cause }  after either of the two above: the
 *              device's overall status (worst of its regions) and why
 *   heartbeat  a region heartbeat { type: "region", id, r, iv }
 *   region     { r, stale }  a region went stale or came back
 *   broker     { state: "up" | "down" }  the server lost or regained Redis
 *   token      { exp }  a renewed token was accepted
 *   tokenrequired  { reason }  no usable token: the page must provide one
 *   servererror    the server's error message
 *   bye        the server is going away (a close follows)
 *   close      { code, reason, action }  transport closed
 *   message    a message of a type this client does not know
 */


export const SUBPROTOCOL = 'devmon.v1';

/* setTimeout fires at once for delays above 2^31 - 1 ms (24.8 days) */
const MAX_TIMER = 0x7fffffff;


/*
 * Full-jitter exponential backoff: a uniform delay in
 * [0, min(cap, base * 2^attempt)), so a crowd of clients dropped at once
 * (a reload) spreads out instead of reconnecting in step.
 */

export function
backoffDelay(attempt, base, cap, random = Math.random)
{
    const ceiling = Math.min(cap, base * Math.pow(2, Math.max(0, attempt)));

    return Math.floor(random() * ceiling);
}


/* stream ids are "<ms>-<seq>"; both parts fit in a double */

export function
parseId(id)
{
    const dash = typeof id === 'string' ? id.indexOf('-') : -1;

    if (dash < 1) {
        return null;
    }

    const ms = Number(id.slice(0, dash));
    const seq = Number(id.slice(dash + 1));

    if (!Number.isFinite(ms) || !Number.isFinite(seq)) {
        return null;
    }

    return [ms, seq];
}


/*
 * An event's time in ms: its "t" when it has one (it was published late,
 * e.g. after a Redis outage), else the milliseconds of its stream id (it
 * was published within a second of being taken).  null: neither.
 */

export function
eventTime(e)
{
    if (typeof e?.t === 'number' && Number.isFinite(e.t)) {
        return e.t;
    }

    return parseId(e?.id)?.[0] ?? null;
}


export function
compareIds(a, b)
{
    const x = parseId(a);
    const y = parseId(b);

    if (x === null || y === null) {
        return x === y ? 0 : (x === null ? -1 : 1);
    }

    if (x[0] !== y[0]) {
        return x[0] < y[0] ? -1 : 1;
    }

    return x[1] === y[1] ? 0 : (x[1] < y[1] ? -1 : 1);
}


/*
 * The resume point "epoch:id": the last event seen in one history of the
 * account's stream.  accept() says whether an event is new; an event at or
 * below the resume point was already applied and is dropped.
 */

export class ResumePoint {

    constructor(epoch = null, id = null) {
        this.epoch = epoch;
        this.id = id;
    }

    /*
     * No resume point while the epoch is "" (the account had no history
     * yet and no "epoch" message named it): the server cannot serve ":ID".
     */
    query() {
        if (this.epoch === null || this.epoch === '' || this.id === null) {
            return null;
        }

        return this.epoch + ':' + this.id;
    }

    /* returns true when the epoch changed: the old history is gone */
    setEpoch(epoch) {
        const e = String(epoch);

        if (this.epoch === e) {
            return false;
        }

        const had = this.epoch !== null;

        this.epoch = e;
        this.id = null;

        return had;
    }

    accept(id) {
        if (parseId(id) === null) {
            return false;
        }

        if (this.id !== null && compareIds(id, this.id) <= 0) {
            return false;
        }

        this.id = id;

        return true;
    }

    /*
     * The account's first history began after a snapshot with no epoch:
     * this client follows it from its start, so it only learns its name
     * (the resume id stays).  Returns true if the epoch was adopted.
     */
    adopt(epoch) {
        if (typeof epoch !== 'string' || epoch === ''
            || (this.epoch !== null && this.epoch !== ''))
        {
            return false;
        }

        this.epoch = epoch;

        return true;
    }

    /* a snapshot covers the stream up to id: resume from there */
    rebase(id) {
        this.id = parseId(id) === null ? null : id;
    }
}


/* exp claim of a JWT in seconds, or null; the signature is not checked */

export function
tokenExpiry(token)
{
    if (typeof token !== 'string') {
        return null;
    }

    const parts = token.split('.');

    if (parts.length !== 3) {
        return null;
    }

    try {
        let b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');

        while (b64.length % 4) {
            b64 += '=';
        }

        const claims = JSON.parse(atob(b64));

        return typeof claims.exp === 'number' ? claims.exp : null;

    } catch (e) {
        return null;
    }
}


/*
 * What a close code asks of the client (DESIGN.md, "Close codes"):
 *   resume  reconnect soon with jitter and resume (reload, too slow)
 *   renew   the token expired: get a fresh one, then reconnect and resume
 *   token   the token is not valid for the account: stop until the page
 *           gives another one
 *   later   the server is overloaded or refused us: back off longer
 *   retry   anything else: ordinary backoff
 */

export function
closeAction(code)
{
    switch (code) {
    case 1001:
    case 4008:
        return 'resume';
    case 4001:
        return 'renew';
    case 4003:
        return 'token';
    case 1008:
    case 1013:
        return 'later';
    default:
        return 'retry';
    }
}


/* a device's overall state: the worst of its regions and checks */

const RANK = { unknown: 0, up: 1, degraded: 2, down: 3 };

export function
worstState(states)
{
    let worst = null;

    for (const st of states) {
        if (worst === null || (RANK[st] ?? 0) > (RANK[worst] ?? 0)) {
            worst = st;
        }
    }

    return worst ?? 'unknown';
}


/*
 * STATUS: what a connection indicator shows.  A drop is not shown at once:
 * "reconnecting" appears after graceMs, "offline" only after outageMs of
 * continuous loss, so a reload (a second at most) never looks like an
 * outage, and once shown a state stays up for minShowMs to avoid flicker.
 */

const DEFAULTS = {
    url: null,
    getToken: null,
    token: null,
    WebSocket: null,
    backoffBase: 500,
    backoffCap: 30000,
    laterMin: 5000,
    graceMs: 1500,
    outageMs: 8000,
    minShowMs: 700,
    connectTimeout: 10000,
    pingInterval: 25000,
    pingTimeout: 10000,
    stableAfter: 10000,
    renewBefore: 5,
    keepIds: 0,
    staleBeats: 3,
    refusedMax: 3
};


/*
 * A filter as the server holds it: "*" or a list.  An event passes when
 * its "d" is in the device filter (or it has none) and its "r" in the
 * region filter (or it has none).
 */

export function
filterPasses(filters, e)
{
    if (filters === null) {
        return true;
    }

    const f = filters;

    if (typeof e.d === 'string' && f.devices !== '*'
        && !f.devices.includes(e.d))
    {
        return false;
    }

    return !(typeof e.r === 'string' && f.regions !== '*'
             && !f.regions.includes(e.r));
}


function
pick(filters)
{
    const out = {};

    for (const key of ['devices', 'regions']) {
        if (filters[key] !== undefined) {
            out[key] = filters[key];
        }
    }

    return out;
}


export class DevmonClient extends EventTarget {

    constructor(options = {}) {
        super();

        this.opt = Object.assign({}, DEFAULTS, options);
        this.token = this.opt.token;
        this.resume = new ResumePoint();
        /* the server's filter from its last "subscribed"; null: all */
        this.filters = null;

        this.devices = new Map();     /* id -> catalogue entry */
        this.latest = new Map();      /* "d|r|k" -> last probe event */
        this.states = new Map();      /* "d|r" -> last state event */
        this.seen = new Map();        /* d -> { rg: Set, k: Set } seen */
        this.regions = new Map();     /* r -> { stale, t, iv, seen } */
        this.broker = 'up';
        this.hello = null;

        this.status = 'connecting';
        this.stats = {
            connects: 0, closes: [], duplicates: 0, resets: 0, snapshots: 0,
            events: 0, renewals: 0, notices: 0, authOk: 0, badMessages: 0
        };
        this.snapshotId = null;

        this.ids = [];                /* ring of the last keepIds ids */
        this.idsHead = 0;
        this.ws = null;
        this.attempt = 0;
        this.stopped = true;
        this.connected = false;
        this.openedAt = 0;
        this.renewing = null;
        this.activeToken = null;      /* the token the server holds */
        this.authToken = null;        /* sent in "auth", not yet answered */
        this.refused = 0;             /* attempts that never opened */
        this.refusedAsked = false;
        this.timers = {};
        this.shownAt = 0;
        this.pings = new Map();
        this.pingSeq = 0;
        this.lastRx = 0;
    }

    start() {
        if (!this.stopped) {
            return;
        }

        this.stopped = false;
        this.connect();
    }

    stop() {
        this.stopped = true;
        this.clearTimers();

        if (this.ws) {
            this.ws.close(1000);
            this.ws = null;
        }

        this.connected = false;
        this.setStatus('stopped', 'stopped');
    }

    /*
     * Give the client a token (e.g. after "tokenrequired"): sent in an
     * "auth" message on an open socket, else used by the next connect.
     */
    setToken(token) {
        this.token = token;
        this.refused = 0;
        this.refusedAsked = false;

        if (this.stopped) {
            this.start();
            return;
        }

        if (this.connected && token && token !== this.activeToken) {
            this.authToken = token;
            this.send({ type: 'auth', token: token });
            this.checkTokenSoon();
        }
    }

    /* only the keys given are sent: a missing key leaves that filter */
    subscribe(filters = {}) {
        this.send(Object.assign({ type: 'subscribe' }, pick(filters)));
    }

    unsubscribe(filters = {}) {
        this.send(Object.assign({ type: 'unsubscribe' }, pick(filters)));
    }

    /* a synthetic round trip through the server; resolves with ms */
    ping() {
        const id = String(++this.pingSeq);
        const sent = Date.now();

        return new Promise((resolve, reject) => {
            if (!this.send({ type: 'ping', id: id })) {
                reject(new Error('not connected'));
                return;
            }

            this.pings.set(id, { resolve, sent });

            setTimeout(() => {
                if (this.pings.delete(id)) {
                    reject(new Error('ping timeout'));
                }
            }, this.opt.pingTimeout);
        });
    }

    eventIds() {
        return this.ids.slice(this.idsHead).concat(
                   this.ids.slice(0, this.idsHead));
    }

    keepId(id) {
        const max = this.opt.keepIds;

        if (max <= 0) {
            return;
        }

        if (this.ids.length < max) {
            this.ids.push(id);
            return;
        }

        this.ids[this.idsHead] = id;
        this.idsHead = (this.idsHead + 1) % max;
    }

    deviceState(d) {
        const list = [];
        const regions = this.regionsOf(d);

        for (const r of regions) {
            const s = this.states.get(d + '|' + r);

            if (s) {
                list.push(s.st);
            }
        }

        /* no state change seen yet: the latest probe results tell */
        if (list.length === 0) {
            for (const k of this.kindsOf(d)) {
                for (const r of regions) {
                    const e = this.latest.get(d + '|' + r + '|' + k);

                    if (e) {
                        list.push(e.st);
                    }
                }
            }
        }

        return worstState(list);
    }

    /* transport */

    send(msg) {
        if (this.ws === null || this.ws.readyState !== 1) {
            return false;
        }

        this.ws.send(JSON.stringify(msg));

        return true;
    }

    url() {
        const q = this.resume.query();
        let url = this.opt.url;

        if (q !== null) {
            url += (url.indexOf('?') < 0 ? '?' : '&')
                   + 'since=' + encodeURIComponent(q);
        }

        return url;
    }

    async freshToken(reason) {
        if (typeof this.opt.getToken !== 'function') {
            return null;
        }

        if (this.renewing === null) {
            this.renewing = (async () => {
                try {
                    return await this.opt.getToken(reason);
                } finally {
                    this.renewing = null;
                }
            })();
        }

        return this.renewing;
    }

    tokenUsable(token) {
        const exp = tokenExpiry(token);

        return token && (exp === null || exp * 1000 > Date.now() + 2000);
    }

    async connect() {
        let token = this.token;

        this.clearTimer('retry');

        if (!this.tokenUsable(token)) {
            try {
                token = await this.freshToken('expired');
            } catch (e) {
                token = null;
            }

            if (this.stopped) {
                return;
            }

            if (!this.tokenUsable(token)) {
                this.needToken('expired');
                return;
            }

            this.token = token;
        }

        const WS = this.opt.WebSocket ?? globalThis.WebSocket;
        let ws;

        try {
            ws = new WS(this.url(), [SUBPROTOCOL, 'bearer.' + token]);

        } catch (e) {
            /* a malformed URL or token: retried with backoff, not thrown */
            this.closed(1006, String(e));
            return;
        }

        this.ws = ws;
        this.connected = false;
        this.activeToken = token;
        this.authToken = null;

        ws.onopen = () => {
            this.openedAt = Date.now();
            this.refused = 0;
            this.refusedAsked = false;
        };

        ws.onmessage = (m) => {
            if (this.ws !== ws) {
                return;
            }

            this.touch();

            let msg;

            try {
                msg = JSON.parse(m.data);
            } catch (e) {
                this.stats.badMessages++;
                this.dispatch('servererror', { type: 'error',
                                               error: 'bad_json',
                                               detail: String(e) });
                return;
            }

            this.handle(msg);
        };

        ws.onclose = (c) => {
            if (this.ws === ws) {
                this.closed(c.code, c.reason);
            }
        };

        ws.onerror = () => {
            /* a close event follows */
        };

        this.timer('connect', this.opt.connectTimeout, () => {
            if (this.ws === ws && !this.connected) {
                ws.close();
                this.closed(1006, 'connect timeout');
            }
        });
    }

    closed(code, reason) {
        const action = closeAction(code);
        const wasStable = this.openedAt !== 0
                          && Date.now() - this.openedAt >= this.opt.stableAfter;
        const opened = this.openedAt !== 0;
        let delay;

        this.ws = null;
        this.connected = false;
        this.openedAt = 0;
        this.clearTimer('connect');
        this.clearTimer('ping');
        this.clearTimer('pong');
        this.pauseRegions();
        this.stats.closes.push(code);

        if (this.stats.closes.length > 100) {
            this.stats.closes.shift();
        }

        for (const p of this.pings.values()) {
            p.resolve(NaN);
        }

        this.pings.clear();

        this.dispatch('close', { code, reason, action });

        if (this.stopped) {
            return;
        }

        if (wasStable) {
            this.attempt = 0;
        }

        this.lost(action === 'token' ? 'token' : 'closed ' + code);

        /*
         * A refused handshake (401, 403, 429, 503) shows in a browser as
         * 1006 before open; after a few, the token may be the cause: ask
         * for a fresh one once, then the page.
         */
        if (!opened && code === 1006) {
            this.refused++;
        }

        if (this.refused >= this.opt.refusedMax) {
            this.refused = 0;

            if (this.refusedAsked) {
                this.needToken('refused');
            } else {
                this.refusedAsked = true;
                this.retryWithNewToken('refused');
            }
            return;
        }

        switch (action) {

        case 'token':
            this.retryWithNewToken('account');
            return;

        case 'renew':
            /* keep a token given since: only the expired one is dropped */
            if (this.token === this.activeToken) {
                this.token = null;
            }
            delay = backoffDelay(0, this.opt.backoffBase,
                                 this.opt.backoffCap);
            break;

        case 'resume':
            delay = backoffDelay(Math.min(this.attempt, 1),
                                 this.opt.backoffBase, this.opt.backoffCap);
            this.attempt++;
            break;

        case 'later':
            delay = this.opt.laterMin
                    + backoffDelay(this.attempt + 2, this.opt.backoffBase,
                                   this.opt.backoffCap);
            this.attempt += 2;
            break;

        default:
            delay = backoffDelay(this.attempt, this.opt.backoffBase,
                                 this.opt.backoffCap);
            this.attempt++;
        }

        this.timer('retry', delay, () => this.connect());
    }

    async retryWithNewToken(reason) {
        const rejected = this.token;
        let token = null;

        this.token = null;

        try {
            token = await this.freshToken(reason);
        } catch (e) {
            token = null;
        }

        if (this.stopped) {
            return;
        }

        if (token && token !== rejected && this.tokenUsable(token)) {
            this.token = token;
            this.connect();
            return;
        }

        /* kept for a retry from the page; the server refused it */
        this.token = rejected;
        this.needToken(reason);
    }

    needToken(reason) {
        this.stopped = true;
        this.clearTimers();
        this.setStatus('offline', 'token');
        this.dispatch('tokenrequired', { reason });
    }

    /* the socket was lost: show it only if it lasts (see STATUS) */
    lost(reason) {
        if (this.timers.grace || this.timers.outage) {
            return;
        }

        this.timer('grace', this.opt.graceMs, () => {
            if (this.status !== 'offline') {
                this.setStatus(this.status === 'connecting'
                               ? 'connecting' : 'reconnecting', reason);
            }
        });

        this.timer('outage', this.opt.outageMs, () => {
            this.setStatus('offline', reason);
        });
    }

    live() {
        const shown = Date.now() - this.shownAt;

        this.clearTimer('grace');
        this.clearTimer('outage');

        if (this.status === 'live') {
            return;
        }

        if ((this.status === 'reconnecting' || this.status === 'offline')
            && shown < this.opt.minShowMs)
        {
            this.timer('show', this.opt.minShowMs - shown, () => {
                if (this.connected) {
                    this.setStatus('live', 'connected');
                }
            });
            return;
        }

        this.setStatus('live', 'connected');
    }

    setStatus(status, reason) {
        const previous = this.status;

        if (status === previous) {
            return;
        }

        this.status = status;
        this.shownAt = Date.now();
        this.dispatch('status', { status, previous, reason });
    }

    /* any message proves the link; a silent one is probed, then dropped */
    touch() {
        this.lastRx = Date.now();
    }

    watch() {
        const idle = Date.now() - this.lastRx;

        if (!this.connected) {
            return;
        }

        if (idle < this.opt.pingInterval) {
            this.timer('ping', this.opt.pingInterval - idle,
                       () => this.watch());
            return;
        }

        const sent = Date.now();

        this.send({ type: 'ping', id: 'keepalive' });
        this.timer('pong', this.opt.pingTimeout, () => {
            const ws = this.ws;

            if (this.lastRx >= sent) {
                this.watch();

            } else if (ws !== null) {
                ws.close();
                this.closed(1006, 'no answer');
            }
        });
    }

    /* messages */

    handle(msg) {
        if (msg === null || typeof msg !== 'object') {
            return;
        }

        switch (msg.type) {

        case undefined:
            this.onEvent(msg);
            break;

        case 'hello':
            this.onHello(msg);
            break;

        case 'snapshot':
            this.onSnapshot(msg);
            break;

        case 'epoch':
            /* sent before the first event of the account's first history */
            if (this.resume.adopt(msg.epoch)) {
                this.dispatch('epoch', msg);
            }
            break;

        case 'reset':
            this.stats.resets++;
            this.dispatch('reset', msg);
            break;

        case 'state':
            this.onState(msg);
            break;

        case 'region':
            this.onRegion(msg);
            break;

        case 'broker':
            this.broker = msg.state === 'down' ? 'down' : 'up';
            this.dispatch('broker', { state: this.broker });
            break;

        case 'subscribed':
            this.filters = {
                devices: msg.devices === '*' || !Array.isArray(msg.devices)
                         ? '*' : msg.devices.slice(),
                regions: msg.regions === '*' || !Array.isArray(msg.regions)
                         ? '*' : msg.regions.slice()
            };

            if (this.filters.devices === '*'
                && this.filters.regions === '*')
            {
                this.filters = null;
            }

            this.dispatch('subscribed', msg);
            break;

        case 'pong':
            this.onPong(msg);
            break;

        case 'token_expiring':
            this.stats.notices++;
            this.renew(msg.exp);
            break;

        case 'auth':
            if (msg.ok) {
                this.stats.authOk++;

                if (this.authToken !== null) {
                    this.activeToken = this.authToken;
                    this.authToken = null;
                }

                this.dispatch('token', { exp: msg.exp });
            } else {
                this.dispatch('servererror', msg);
            }
            break;

        case 'error':
            this.dispatch('servererror', msg);
            break;

        case 'bye':
            this.dispatch('bye', msg);
            break;

        default:
            this.dispatch('message', msg);
        }
    }

    onHello(msg) {
        this.hello = msg;
        this.connected = true;
        this.stats.connects++;
        this.clearTimer('connect');

        if (msg.epoch !== undefined && msg.epoch !== null
            && this.resume.epoch === null)
        {
            this.resume.setEpoch(msg.epoch);
        }

        /*
         * The server sends "broker up" only to clients connected when its
         * link came back, and accepts a handshake only with the link up.
         */
        if (this.broker === 'down') {
            this.broker = 'up';
            this.dispatch('broker', { state: 'up' });
        }

        this.dispatch('hello', msg);

        /*
         * A new connection starts with no filter: ask for the one in
         * force before; until the answer, onEvent drops what it excludes.
         */
        if (this.filters !== null) {
            const again = {};

            for (const key of ['devices', 'regions']) {
                if (this.filters[key] !== '*') {
                    again[key] = this.filters[key];
                }
            }

            this.send(Object.assign({ type: 'subscribe' }, again));
        }

        this.resumeRegions();
        this.live();
        this.touch();
        this.watch();
        this.checkTokenSoon();
    }

    onSnapshot(msg) {
        const reset = this.resume.query() !== null;
        let last = null;

        this.stats.snapshots++;

        if (msg.epoch !== undefined && msg.epoch !== null) {
            this.resume.setEpoch(msg.epoch);
        }

        this.devices.clear();
        this.latest.clear();
        this.states.clear();
        this.seen.clear();

        for (const dev of msg.devices ?? []) {
            if (dev && typeof dev.d === 'string') {
                this.devices.set(dev.d, dev);
            }
        }

        for (const e of msg.state ?? []) {
            if (e === null || typeof e !== 'object') {
                continue;
            }

            if (e.type === 'state') {
                this.states.set(e.d + '|' + e.r, e);
                this.implyDevice(e.d, e.r, null);

            } else if (e.type === 'region') {
                this.beat(e, true);

            } else if (e.type === undefined) {
                this.latest.set(e.d + '|' + e.r + '|' + e.k, e);
                this.implyDevice(e.d, e.r, e.k);
            }

            if (parseId(e.id) !== null
                && (last === null || compareIds(e.id, last) > 0))
            {
                last = e.id;
            }
        }

        /*
         * The snapshot covers the stream up to its "id" (the stream's last
         * entry when it was taken); without one, up to its newest state
         * entry, which is safe: anything older that was not in the state
         * hash changes no state.
         */
        this.resume.rebase(parseId(msg.id) !== null ? msg.id : last);
        this.snapshotId = this.resume.id;

        this.keepId(reset ? '#reset' : '#snapshot');

        this.dispatch('snapshot', {
            reset: reset,
            devices: this.devices,
            state: msg.state ?? []
        });
    }

    /*
     * Regions and kinds a device was seen with: the catalogue's "rg" is
     * empty for a device every region probes, and a publisher may send
     * devices the catalogue does not list at all.
     */
    implyDevice(d, r, k) {
        if (typeof d !== 'string') {
            return;
        }

        let seen = this.seen.get(d);

        if (seen === undefined) {
            seen = { rg: new Set(), k: new Set() };
            this.seen.set(d, seen);
        }

        if (r) {
            seen.rg.add(r);
        }

        if (k) {
            seen.k.add(k);
        }

        if (!this.devices.has(d)) {
            this.devices.set(d, { d: d, n: d, a: '', rg: [], k: [],
                                  implied: true });
        }
    }

    /* catalogue order first, then what was seen */
    regionsOf(d) {
        const dev = this.devices.get(d);
        const out = new Set(dev?.rg ?? []);

        for (const r of this.seen.get(d)?.rg ?? []) {
            out.add(r);
        }

        return Array.from(out);
    }

    kindsOf(d) {
        const dev = this.devices.get(d);
        const out = new Set(dev?.k ?? []);

        for (const k of this.seen.get(d)?.k ?? []) {
            out.add(k);
        }

        return Array.from(out);
    }

    track(e) {
        if (e.id === undefined) {
            return true;
        }

        if (!this.resume.accept(e.id)) {
            this.stats.duplicates++;
            return false;
        }

        this.stats.events++;
        this.keepId(e.id);

        /* replayed before our filter is in force again: not ours */
        if (!filterPasses(this.filters, e)) {
            this.stats.filtered = (this.stats.filtered ?? 0) + 1;
            return false;
        }

        return true;
    }

    onEvent(e) {
        if (!this.track(e)) {
            return;
        }

        this.latest.set(e.d + '|' + e.r + '|' + e.k, e);
        this.implyDevice(e.d, e.r, e.k);
        this.dispatch('event', e);
        this.dispatch('device', { d: e.d, status: this.deviceState(e.d),
                                  cause: e });
    }

    onState(e) {
        if (!this.track(e)) {
            return;
        }

        this.states.set(e.d + '|' + e.r, e);
        this.implyDevice(e.d, e.r, null);
        this.dispatch('state', e);
        this.dispatch('device', { d: e.d, status: this.deviceState(e.d),
                                  cause: e });
    }

    /*
     * "region" is both the heartbeat published in the stream (it has an
     * id and an interval) and the server's notice that a region went
     * stale or came back (no id).
     */
    onRegion(msg) {
        if (msg.id !== undefined) {
            if (this.track(msg)) {
                this.beat(msg);
                this.dispatch('heartbeat', msg);
            }
            return;
        }

        const stale = msg.stale === true || msg.state === 'stale'
                      || msg.st === 'stale';

        this.markRegion(msg.r, stale);
    }

    /*
     * A live beat counts from now; one from a snapshot from its own time
     * (it may be old), clamped against clock skew to one to staleBeats
     * intervals.
     */
    beat(msg, stored = false) {
        const reg = this.regions.get(msg.r)
                    ?? { stale: false, t: 0, iv: 0, seen: 0 };
        const t = eventTime(msg);

        reg.t = t ?? reg.t;
        reg.iv = msg.iv ?? reg.iv;
        reg.seen = Date.now();
        this.regions.set(msg.r, reg);

        if (reg.iv <= 0) {
            this.markRegion(msg.r, false);
            return;
        }

        const full = reg.iv * this.opt.staleBeats;
        const age = stored && t !== null ? Date.now() - t : 0;
        const wait = Math.min(full, Math.max(reg.iv, full - age));

        if (age < full) {
            this.markRegion(msg.r, false);
        }

        this.armRegion(msg.r, wait);
    }

    armRegion(r, ms) {
        this.timer('region:' + r, ms, () => this.markRegion(r, true));
    }

    /* no beats arrive while disconnected: that is not a stale region */
    pauseRegions() {
        for (const name of Object.keys(this.timers)) {
            if (name.startsWith('region:')) {
                this.clearTimer(name);
            }
        }
    }

    resumeRegions() {
        for (const [r, reg] of this.regions) {
            if (reg.iv > 0 && !reg.stale) {
                this.armRegion(r, reg.iv * this.opt.staleBeats);
            }
        }
    }

    markRegion(r, stale) {
        const reg = this.regions.get(r)
                    ?? { stale: false, t: 0, iv: 0, seen: 0 };

        this.regions.set(r, reg);

        if (reg.stale === stale) {
            return;
        }

        reg.stale = stale;
        this.dispatch('region', { r, stale });
    }

    onPong(msg) {
        const p = this.pings.get(msg.id);

        if (p) {
            this.pings.delete(msg.id);
            p.resolve(Date.now() - p.sent);
        }
    }

    /* renew when the server warns, or ahead of exp when it does not */
    async renew(exp) {
        let token;

        try {
            token = await this.freshToken('expiring');
        } catch (e) {
            token = null;
        }

        if (!this.tokenUsable(token) || token === this.token) {
            this.dispatch('tokenrequired', { reason: 'expiring', exp });
            return;
        }

        this.token = token;
        this.stats.renewals++;
        this.authToken = token;
        this.send({ type: 'auth', token: token });
        this.checkTokenSoon();
    }

    checkTokenSoon() {
        const exp = tokenExpiry(this.token);

        this.clearTimer('renew');

        if (exp === null || typeof this.opt.getToken !== 'function') {
            return;
        }

        /*
         * A fallback for servers that do not send token_expiring: renew
         * shortly before exp, later than the server's notice would come.
         */
        const at = Math.max(1000,
                            exp * 1000 - Date.now()
                            - this.opt.renewBefore * 1000);

        this.timer('renew', at, () => {
            if (this.connected && tokenExpiry(this.token) === exp) {
                this.renew(exp);
            }
        });
    }

    /* timers */

    /* a delay past MAX_TIMER is a chain of timers */
    timer(name, ms, fn) {
        const now = Math.min(Math.max(0, ms), MAX_TIMER);

        this.clearTimer(name);
        this.timers[name] = setTimeout(() => {
            delete this.timers[name];

            if (ms > MAX_TIMER) {
                this.timer(name, ms - MAX_TIMER, fn);
            } else {
                fn();
            }
        }, now);
    }

    clearTimer(name) {
        if (this.timers[name] !== undefined) {
            clearTimeout(this.timers[name]);
            delete this.timers[name];
        }
    }

    clearTimers() {
        for (const name of Object.keys(this.timers)) {
            this.clearTimer(name);
        }
    }

    dispatch(type, detail) {
        this.dispatchEvent(new CustomEvent(type, { detail }));
    }
}
