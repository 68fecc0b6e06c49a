/* connection.test.mjs: devmon.js connection state machine, fake sockets. */

/*
 * FakeSocket stands in for the browser's WebSocket (opt.WebSocket) so the
 * client's reactions to opens, messages and close codes can be driven
 * step by step; the real server is exercised by t/300-dashboard.t.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { DevmonClient, filterPasses } from '../../../dashboard/devmon.js';


const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


class FakeSocket {

    static all = [];

    constructor(url, protocols) {
        this.url = url;
        this.protocols = protocols;
        this.readyState = 0;
        this.sent = [];
        FakeSocket.all.push(this);
    }

    open() {
        this.readyState = 1;
        this.onopen?.();
    }

    recv(msg) {
        this.onmessage?.({ data: JSON.stringify(msg) });
    }

    send(text) {
        this.sent.push(JSON.parse(text));
    }

    close(code = 1005, reason = '') {
        if (this.readyState === 3) {
            return;
        }

        this.readyState = 3;
        this.onclose?.({ code, reason });
    }
}


function
jwt(exp)
{
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

    return b64({ alg: 'HS256' }) + '.' + b64({ sub: 'u', exp: exp }) + '.s';
}


function
client(t, opt = {})
{
    FakeSocket.all = [];

    const c = new DevmonClient(Object.assign({
        url: 'ws://127.0.0.1:1/ws',
        token: jwt(Math.floor(Date.now() / 1000) + 3600),
        WebSocket: FakeSocket,
        backoffBase: 2,
        backoffCap: 4,
        laterMin: 2
    }, opt));

    t.after(() => c.stop());

    return c;
}


/* the newest socket, once the client made one (connect() is async) */
async function
socket(n)
{
    for (let i = 0; i < 200 && FakeSocket.all.length < n; i++) {
        await sleep(5);
    }

    assert.equal(FakeSocket.all.length, n, 'socket ' + n + ' was made');

    return FakeSocket.all[n - 1];
}


async function
up(ws, epoch = '7')
{
    ws.open();
    ws.recv({ type: 'hello', session: 's', epoch: epoch });
}


test('subscribe sends only the filters given', async (t) => {
    const c = client(t);

    c.start();
    const ws = await socket(1);
    await up(ws);

    c.subscribe({ regions: ['fra'] });
    c.unsubscribe({ devices: ['sw1'] });
    c.subscribe({ devices: ['sw2'], regions: ['ams'] });

    assert.deepEqual(ws.sent, [
        { type: 'subscribe', regions: ['fra'] },
        { type: 'unsubscribe', devices: ['sw1'] },
        { type: 'subscribe', devices: ['sw2'], regions: ['ams'] }
    ]);
});

test('the server\'s "subscribed" is the filter; a reconnect restores it '
     + 'and drops what it excludes until then', async (t) => {
    const c = client(t);
    const got = [];

    c.addEventListener('event', (ev) => got.push(ev.detail.id));
    c.start();

    const ws = await socket(1);

    await up(ws);
    ws.recv({ type: 'snapshot', epoch: '7', id: '10-0', devices: [],
              state: [] });
    c.subscribe({ regions: ['fra'] });
    ws.recv({ type: 'subscribed', devices: '*', regions: ['fra'] });
    assert.deepEqual(c.filters, { devices: '*', regions: ['fra'] });

    ws.close(1001);

    const ws2 = await socket(2);

    assert.match(ws2.url, /since=7%3A10-0$/);
    await up(ws2);
    assert.deepEqual(ws2.sent, [{ type: 'subscribe', regions: ['fra'] }],
                     'exactly the filter in force, no devices: []');

    /* the replay comes before the server has the filter again */
    ws2.recv({ id: '11-0', d: 'a', r: 'ams', k: 'icmp', st: 'up' });
    ws2.recv({ id: '12-0', d: 'a', r: 'fra', k: 'icmp', st: 'up' });
    ws2.recv({ type: 'region', id: '13-0', r: 'ams', iv: 1000 });
    assert.deepEqual(got, ['12-0']);
    assert.equal(c.resume.query(), '7:13-0', 'skipped ids still count');
    assert.equal(c.regions.has('ams'), false);

    /* everything again: nothing is dropped any more */
    ws2.recv({ type: 'subscribed', devices: '*', regions: '*' });
    assert.equal(c.filters, null);
    ws2.recv({ id: '14-0', d: 'a', r: 'ams', k: 'icmp', st: 'up' });
    assert.deepEqual(got, ['12-0', '14-0']);

    assert.equal(filterPasses({ devices: [], regions: '*' },
                              { d: 'x', r: 'y' }), false);
    assert.equal(filterPasses({ devices: [], regions: '*' },
                              { type: 'region', r: 'y' }), true);
});

test('an empty epoch: no since, and the next snapshot is no reset',
     async (t) => {
    const c = client(t);
    const snaps = [];

    c.addEventListener('snapshot', (ev) => snaps.push(ev.detail.reset));
    c.start();

    const ws = await socket(1);

    await up(ws, '');
    ws.recv({ type: 'snapshot', epoch: '', id: '0-0', devices: [],
              state: [] });
    ws.close(1006);

    const ws2 = await socket(2);

    assert.equal(ws2.url, 'ws://127.0.0.1:1/ws', 'no since=:0-0');
    await up(ws2, '55');
    ws2.recv({ type: 'snapshot', epoch: '55', id: '3-0', devices: [],
               state: [] });
    assert.deepEqual(snaps, [false, false]);
    assert.equal(c.resume.query(), '55:3-0');
});

test('a hello after a broker outage clears it', async (t) => {
    const c = client(t);
    const seen = [];

    c.addEventListener('broker', (ev) => seen.push(ev.detail.state));
    c.start();

    const ws = await socket(1);

    await up(ws);
    ws.recv({ type: 'broker', state: 'down' });
    ws.close(1006);

    const ws2 = await socket(2);

    await up(ws2);
    assert.equal(c.broker, 'up');
    assert.deepEqual(seen, ['down', 'up']);
});

test('a token valid for 30 days does not renew at once', async (t) => {
    let asked = 0;
    const c = client(t, {
        token: jwt(Math.floor(Date.now() / 1000) + 30 * 86400),
        getToken: async () => { asked++; return jwt(0); }
    });

    c.start();
    await up(await socket(1));
    await sleep(50);
    assert.equal(asked, 0, 'setTimeout past 2^31-1 ms would fire now');
    assert.ok(c.timers.renew !== undefined, 'renewal is scheduled');
});

test('4003 while getToken is pending goes offline, not Live', async (t) => {
    let release;
    const c = client(t, {
        graceMs: 20, outageMs: 60, minShowMs: 0,
        getToken: () => new Promise((r) => { release = r; })
    });
    const required = [];

    c.addEventListener('tokenrequired', (ev) =>
        required.push(ev.detail.reason));
    c.start();
    await up(await socket(1));
    assert.equal(c.status, 'live');

    FakeSocket.all[0].close(4003);
    await sleep(120);
    assert.equal(c.status, 'offline', 'the grace timers ran');
    release(null);
    await sleep(10);
    assert.deepEqual(required, ['account']);
    assert.equal(c.status, 'offline');
});

test('setToken on an open socket sends auth; 4001 keeps a newer token',
     async (t) => {
    const now = Math.floor(Date.now() / 1000);
    const first = jwt(now + 3600);
    const second = jwt(now + 7200);
    const c = client(t, { token: first });

    c.start();

    const ws = await socket(1);

    await up(ws);
    c.setToken(second);
    assert.deepEqual(ws.sent, [{ type: 'auth', token: second }]);

    /* the server expired the first before it read the auth */
    ws.close(4001);
    assert.equal(c.token, second, 'the newer token is kept');

    const ws2 = await socket(2);

    assert.equal(ws2.protocols[1], 'bearer.' + second);

    /* the token the server holds expires: that one is dropped */
    await up(ws2);
    ws2.close(4001);
    assert.equal(c.token, null);
});

test('handshakes that never open: one fresh token, then tokenrequired',
     async (t) => {
    const reasons = [];
    const c = client(t, {
        getToken: async (why) => { reasons.push(why); return null; }
    });
    const required = [];

    c.addEventListener('tokenrequired', (ev) =>
        required.push(ev.detail.reason));
    c.start();

    for (let n = 1; n <= 3; n++) {
        (await socket(n)).close(1006);
    }

    await sleep(30);
    assert.deepEqual(reasons, ['refused']);
    assert.deepEqual(required, ['refused']);
    assert.equal(c.stopped, true, 'no endless retries');
    assert.equal(c.status, 'offline');
    assert.equal(FakeSocket.all.length, 3);

    /* the page gives a token: it tries again */
    c.setToken(c.token);
    await socket(4);
});

test('ids are kept only when asked, in a ring', (t) => {
    const off = new DevmonClient({ url: 'ws://127.0.0.1:1/ws' });
    const on = new DevmonClient({ url: 'ws://127.0.0.1:1/ws', keepIds: 3 });

    t.after(() => { off.clearTimers(); on.clearTimers(); });

    for (const c of [off, on]) {
        c.handle({ type: 'hello', epoch: '1' });

        for (let i = 1; i <= 5; i++) {
            c.handle({ id: i + '-0', d: 'a', r: 'x', k: 'icmp', st: 'up' });
        }
    }

    assert.deepEqual(off.eventIds(), []);
    assert.deepEqual(on.eventIds(), ['3-0', '4-0', '5-0']);
});

test('region staleness waits while disconnected; an old stored beat '
     + 'counts from its time', async (t) => {
    const c = client(t, { staleBeats: 2 });
    const seen = [];

    c.addEventListener('region', (ev) => seen.push(ev.detail));
    c.start();

    const ws = await socket(1);

    await up(ws);

    /* stored 150 ms ago, 100 ms interval: stale after one more interval */
    ws.recv({ type: 'snapshot', epoch: '7', id: '1-0', devices: [],
              state: [{ type: 'region', id: '1-0', r: 'fra',
                        t: Date.now() - 150, iv: 100 }] });
    await sleep(60);
    assert.deepEqual(seen, []);
    await sleep(80);
    assert.deepEqual(seen, [{ r: 'fra', stale: true }]);

    ws.recv({ type: 'region', id: '2-0', r: 'fra', iv: 100 });
    assert.deepEqual(seen.at(-1), { r: 'fra', stale: false });

    /* away for longer than two beats: not stale meanwhile */
    ws.close(1006);
    await sleep(300);
    assert.equal(seen.length, 2);
    assert.equal(c.timers['region:fra'], undefined);

    /* back: re-armed from the hello */
    await up(await socket(2));
    assert.ok(c.timers['region:fra'] !== undefined);
});
