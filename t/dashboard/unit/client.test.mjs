/* client.test.mjs: devmon.js pure logic: backoff, ids, resume, close codes. */

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { backoffDelay, compareIds, parseId, ResumePoint, tokenExpiry,
         closeAction, worstState, eventTime, DevmonClient } from
         '../../../dashboard/devmon.js';


test('backoff is full jitter under an exponential, capped ceiling', () => {
    assert.equal(backoffDelay(0, 500, 30000, () => 0), 0);
    assert.equal(backoffDelay(0, 500, 30000, () => 0.999999), 499);
    assert.equal(backoffDelay(3, 500, 30000, () => 0.5), 2000);
    /* 500 * 2^10 is past the cap */
    assert.equal(backoffDelay(10, 500, 30000, () => 0.5), 15000);
    assert.equal(backoffDelay(60, 500, 30000, () => 0.999999), 29999);

    for (let a = 0; a < 20; a++) {
        const d = backoffDelay(a, 500, 30000);

        assert.ok(d >= 0 && d < Math.min(30000, 500 * 2 ** a), `attempt ${a}`);
    }
});

test('jitter spreads a crowd of reconnects', () => {
    const seen = new Set();

    for (let i = 0; i < 200; i++) {
        seen.add(Math.floor(backoffDelay(2, 500, 30000) / 100));
    }

    /* 20 buckets of 100 ms under a 2000 ms ceiling */
    assert.ok(seen.size >= 15, 'delays spread: ' + seen.size);
});

test('stream ids compare by time, then sequence', () => {
    assert.deepEqual(parseId('1732270000123-7'), [1732270000123, 7]);
    assert.equal(parseId('nope'), null);
    assert.equal(parseId('-1'), null);
    assert.equal(compareIds('1-0', '1-0'), 0);
    assert.equal(compareIds('1-9', '1-10'), -1);
    assert.equal(compareIds('10-0', '9-99'), 1);
    /* not a string comparison */
    assert.equal(compareIds('1732270000123-0', '999-0'), 1);
});

test('resume point advances, drops replays and restarts on a new epoch',
     () => {
    const rp = new ResumePoint();

    assert.equal(rp.query(), null);
    assert.equal(rp.setEpoch(17), false);
    assert.equal(rp.query(), null);
    assert.equal(rp.accept('5-0'), true);
    assert.equal(rp.query(), '17:5-0');
    assert.equal(rp.accept('5-0'), false, 'same id twice');
    assert.equal(rp.accept('4-3'), false, 'older id');
    assert.equal(rp.accept('5-1'), true);
    assert.equal(rp.accept('garbage'), false);
    assert.equal(rp.query(), '17:5-1');
    assert.equal(rp.setEpoch('17'), false, 'same epoch as text');
    assert.equal(rp.query(), '17:5-1');
    assert.equal(rp.setEpoch('18'), true, 'history changed');
    assert.equal(rp.query(), null);
    rp.rebase('9-0');
    assert.equal(rp.query(), '18:9-0');
});

test('an event\'s time is its "t", else its stream id\'s milliseconds',
     () => {
    assert.equal(eventTime({ id: '1795393528897-0', d: 'sw1' }),
                 1795393528897, 'published at once: no "t"');
    assert.equal(eventTime({ id: '1795393528897-3', t: 1795393520000 }),
                 1795393520000, 'published late: its own "t"');
    assert.equal(eventTime({ type: 'region', id: '42-0', iv: 1000 }), 42);
    assert.equal(eventTime({ t: 7 }), 7, 'no id, a "t"');
    assert.equal(eventTime({ id: 'garbage' }), null);
    assert.equal(eventTime(null), null);
});

test('an account\'s first epoch is adopted without losing the resume id',
     () => {
    const rp = new ResumePoint();

    rp.setEpoch('');
    rp.rebase('0-0');
    assert.equal(rp.query(), null, 'empty history: no since=:0-0');
    assert.equal(rp.adopt('1795394777174053'), true);
    assert.equal(rp.query(), '1795394777174053:0-0', 'id kept');
    assert.equal(rp.accept('1795394777174-0'), true);
    assert.equal(rp.query(), '1795394777174053:1795394777174-0');
    assert.equal(rp.adopt('999'), false, 'only an empty epoch is named');
    assert.equal(rp.adopt(''), false);
    assert.equal(rp.epoch, '1795394777174053');
});

test('client: "epoch" before the first event makes the resume point valid',
     (t) => {
    const c = new DevmonClient({ url: 'ws://127.0.0.1:1/ws' });
    const seen = [];

    t.after(() => c.clearTimers());
    c.addEventListener('epoch', (ev) => seen.push(ev.detail.epoch));

    c.handle({ type: 'hello', session: 's1', epoch: '' });
    c.handle({ type: 'snapshot', epoch: '', id: '0-0', devices: [],
               state: [] });
    assert.equal(c.resume.query(), null);
    c.handle({ type: 'epoch', epoch: '1795394777174053' });
    c.handle({ id: '1795394777174-0', d: 'sw1', r: 'lab', k: 'icmp',
               st: 'up', rt: 1 });
    assert.equal(c.resume.query(), '1795394777174053:1795394777174-0');
    assert.deepEqual(seen, ['1795394777174053']);
    assert.equal(c.stats.resets, 0);
});

test('token expiry is read from the JWT payload', () => {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const tok = b64({ alg: 'HS256' }) + '.' + b64({ sub: 'u', exp: 1234 })
                + '.sig';

    assert.equal(tokenExpiry(tok), 1234);
    assert.equal(tokenExpiry('a.b'), null);
    assert.equal(tokenExpiry(b64({}) + '.' + b64({ sub: 'x' }) + '.s'), null);
    assert.equal(tokenExpiry(undefined), null);
});

test('close codes map to what DESIGN.md asks of a client', () => {
    assert.equal(closeAction(1001), 'resume');
    assert.equal(closeAction(4008), 'resume');
    assert.equal(closeAction(4001), 'renew');
    assert.equal(closeAction(4003), 'token');
    assert.equal(closeAction(1013), 'later');
    assert.equal(closeAction(1006), 'retry');
    assert.equal(closeAction(1011), 'retry');
});

test('a device shows the worst state of its regions', () => {
    assert.equal(worstState([]), 'unknown');
    assert.equal(worstState(['up', 'up']), 'up');
    assert.equal(worstState(['up', 'degraded']), 'degraded');
    assert.equal(worstState(['unknown', 'down', 'up']), 'down');
});

test('messages: snapshot, replay without duplicates, reset, regions',
     (t) => {
    const c = new DevmonClient({ url: 'ws://127.0.0.1:1/ws', keepIds: 100 });
    const seen = [];

    t.after(() => c.clearTimers());

    for (const t of ['snapshot', 'event', 'state', 'region', 'broker',
                     'reset'])
    {
        c.addEventListener(t, (ev) => seen.push([t, ev.detail]));
    }

    c.handle({ type: 'hello', session: 's1', epoch: '100' });
    c.handle({ type: 'snapshot', epoch: '100',
               devices: [{ d: 'sw1', n: 'Switch 1', a: '127.0.0.2',
                           rg: ['lab'], k: ['icmp'] }],
               state: [{ id: '10-0', d: 'sw1', r: 'lab', k: 'icmp', t: 10,
                         st: 'up', rt: 1.5, pl: 0 }] });
    assert.equal(c.resume.query(), '100:10-0');
    assert.equal(c.deviceState('sw1'), 'up');

    c.handle({ id: '11-0', d: 'sw1', r: 'lab', k: 'icmp', t: 11, st: 'up',
               rt: 2, pl: 0 });
    c.handle({ id: '11-0', d: 'sw1', r: 'lab', k: 'icmp', t: 11, st: 'up',
               rt: 2, pl: 0 });
    c.handle({ type: 'state', id: '12-0', d: 'sw1', r: 'lab', t: 12,
               st: 'down', was: 'up', er: 'timeout' });
    assert.equal(c.deviceState('sw1'), 'down');
    assert.equal(c.stats.duplicates, 1);
    assert.deepEqual(c.eventIds(), ['#snapshot', '11-0', '12-0']);
    assert.equal(c.resume.query(), '100:12-0');

    /* an unknown device publishes: it is added, not dropped */
    c.handle({ id: '13-0', d: 'new', r: 'lab', k: 'tcp', t: 13, st: 'up' });
    assert.equal(c.devices.get('new').n, 'new');

    c.handle({ type: 'region', id: '14-0', r: 'lab', t: 14, iv: 60000 });
    c.handle({ type: 'region', r: 'lab', stale: true });
    assert.equal(c.regions.get('lab').stale, true);
    /* a heartbeat brings the region back */
    c.handle({ type: 'region', id: '15-0', r: 'lab', t: 15, iv: 60000 });
    assert.equal(c.regions.get('lab').stale, false);
    c.handle({ type: 'broker', state: 'down' });
    assert.equal(c.broker, 'down');

    c.handle({ type: 'reset' });
    c.handle({ type: 'snapshot', epoch: '200', devices: [], state: [] });
    assert.equal(c.devices.size, 0);
    assert.equal(c.resume.epoch, '200');
    assert.equal(c.resume.query(), null);

    const kinds = seen.map((s) => s[0]);

    assert.deepEqual(kinds, ['snapshot', 'event', 'state', 'event',
                             'region', 'region', 'broker', 'reset',
                             'snapshot']);
    assert.equal(seen[0][1].reset, false);
    assert.equal(seen.at(-1)[1].reset, true);
    assert.deepEqual(seen[4][1], { r: 'lab', stale: true });
    assert.deepEqual(seen[5][1], { r: 'lab', stale: false });
});

test('the resume URL carries since=epoch:id', () => {
    const c = new DevmonClient({ url: 'ws://127.0.0.1:1/ws' });

    assert.equal(c.url(), 'ws://127.0.0.1:1/ws');
    c.resume.setEpoch('42');
    c.resume.accept('7-1');
    assert.equal(c.url(), 'ws://127.0.0.1:1/ws?since=42%3A7-1');
});

test('a snapshot names its stream position; hello sets the epoch', (t) => {
    const c = new DevmonClient({ url: 'ws://127.0.0.1:1/ws', keepIds: 10 });

    t.after(() => c.clearTimers());
    c.handle({ type: 'hello', session: 's', epoch: '7' });
    assert.equal(c.resume.epoch, '7');
    c.handle({ type: 'snapshot', epoch: '7', id: '90-3', devices: [],
               state: [{ id: '80-0', d: 'a', r: 'x', k: 'icmp', t: 1,
                         st: 'up' }] });
    assert.equal(c.resume.query(), '7:90-3', 'the snapshot id, not 80-0');
    assert.equal(c.snapshotId, '90-3');

    /* an event the snapshot already covers is not applied again */
    c.handle({ id: '90-3', d: 'a', r: 'x', k: 'icmp', t: 2, st: 'down' });
    assert.equal(c.latest.get('a|x|icmp').st, 'up');
    assert.equal(c.stats.duplicates, 1);

    /* a device every region probes has rg [] in the catalogue */
    c.handle({ type: 'snapshot', epoch: '7', id: '95-0',
               devices: [{ d: 'b', n: 'B', a: '127.0.0.9', rg: [],
                           k: ['tcp'] }],
               state: [{ type: 'state', id: '94-0', d: 'b', r: 'x', t: 3,
                         st: 'down', was: 'up' }] });
    assert.deepEqual(c.regionsOf('b'), ['x']);
    assert.equal(c.deviceState('b'), 'down');
    assert.equal(c.stats.badMessages, 0);
});
