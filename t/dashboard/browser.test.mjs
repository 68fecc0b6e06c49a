/* browser.test.mjs: the dashboard in chromium against the real stack. */

/*
 * Started by t/300-dashboard.t, which runs redis-server, probed, the
 * flapping HTTP target and nginx with the devmon module, and passes where
 * they are in the environment (DASH_*).  Nothing here is mocked: events
 * come from probed and devmon-publish through Redis and the module.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const env = (name) => {
    const v = process.env[name];

    if (v === undefined || v === '') {
        throw new Error('environment variable ' + name + ' is not set');
    }

    return v;
};

const ROOT = env('DEVMON_ROOT');
const URL_BASE = env('DASH_URL');
const REDIS_PORT = Number(env('DASH_REDIS_PORT'));
const SECRET = fs.readFileSync(env('DASH_SECRET'), 'utf8').replace(/\n$/, '');
const ACCOUNT = env('DASH_ACCOUNT');
const CONTROL = env('DASH_CONTROL');
const INTERVAL = Number(env('DASH_INTERVAL_MS'));
const NOTICE = Number(env('DASH_NOTICE_S'));
const RELOAD = JSON.parse(env('DASH_RELOAD'));
const PUBLISH = env('DASH_PUBLISH');
const ARTIFACTS = env('DASH_ARTIFACTS');
const DEVICES = JSON.parse(env('DASH_DEVICES'));
const STREAM = 'devmon:{' + ACCOUNT + '}:ev';

const require = createRequire(path.join(ROOT, 'dashboard', 'package.json'));
const { chromium } = require('playwright-core');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


function
mint(ttl, sub = 'tester', acct = ACCOUNT)
{
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const head = b64({ alg: 'HS256', typ: 'JWT' });
    const body = b64({ sub: sub, acct: acct, iat: now, exp: now + ttl });
    const sig = crypto.createHmac('sha256', SECRET).update(head + '.' + body)
                .digest('base64url');

    return head + '.' + body + '.' + sig;
}


/* a minimal RESP client: one command at a time, arrays and bulk strings */

function
redis(...args)
{
    return new Promise((resolve, reject) => {
        const sock = net.connect(REDIS_PORT, '127.0.0.1');
        let buf = Buffer.alloc(0);

        sock.setTimeout(5000, () => {
            sock.destroy();
            reject(new Error('redis timeout'));
        });

        sock.on('error', reject);
        sock.on('connect', () => {
            let cmd = '*' + args.length + '\r\n';

            for (const a of args) {
                cmd += '$' + Buffer.byteLength(String(a)) + '\r\n' + a + '\r\n';
            }

            sock.write(cmd);
        });

        sock.on('data', (d) => {
            buf = Buffer.concat([buf, d]);

            const r = parse(buf, 0);

            if (r !== null) {
                sock.end();
                r.value instanceof Error ? reject(r.value) : resolve(r.value);
            }
        });
    });
}


function
parse(buf, at)
{
    const eol = buf.indexOf('\r\n', at);

    if (eol < 0) {
        return null;
    }

    const kind = String.fromCharCode(buf[at]);
    const line = buf.toString('utf8', at + 1, eol);
    let next = eol + 2;

    switch (kind) {
    case '+':
    case ':':
        return { value: kind === ':' ? Number(line) : line, next };
    case '-':
        return { value: new Error(line), next };
    case '$': {
        const n = Number(line);

        if (n < 0) {
            return { value: null, next };
        }

        if (buf.length < next + n + 2) {
            return null;
        }

        return { value: buf.toString('utf8', next, next + n),
                 next: next + n + 2 };
    }
    case '*': {
        const n = Number(line);
        const out = [];

        for (let i = 0; i < n; i++) {
            const r = parse(buf, next);

            if (r === null) {
                return null;
            }

            out.push(r.value);
            next = r.next;
        }

        return { value: out, next };
    }
    default:
        return { value: new Error('bad RESP ' + kind), next };
    }
}


async function
streamIds(from, to)
{
    const rows = await redis('XRANGE', STREAM, from, to);

    return rows.map((r) => r[0]);
}


async function
lastStreamId()
{
    const rows = await redis('XREVRANGE', STREAM, '+', '-', 'COUNT', '1');

    return rows.length ? rows[0][0] : null;
}


function
publish(lines)
{
    return execFileSync(PUBLISH, ['-p', String(REDIS_PORT)],
                        { input: lines.join('\n') + '\n', timeout: 20000 })
           .toString();
}


async function
waitFor(what, fn, ms)
{
    const until = Date.now() + ms;
    let last;

    while (Date.now() < until) {
        last = await fn();

        if (last) {
            return last;
        }

        await sleep(100);
    }

    throw new Error('timed out after ' + ms + ' ms waiting for ' + what
                    + ' (last: ' + JSON.stringify(last) + ')');
}


/* the page holds exactly the stream after its snapshot: no gap, no twin */

async function
assertHoldsStream(page, label)
{
    const last = await waitFor(label + ': page catches up with the stream',
        async () => {
            const want = await lastStreamId();
            const ids = await page.evaluate(() => __devmon.eventIds());

            return ids.at(-1) === want ? want : false;
        }, 15000);

    const ids = await page.evaluate(() => __devmon.eventIds());
    const markers = ids.filter((i) => i.startsWith('#'));

    assert.deepEqual(markers, ['#snapshot'],
                     label + ': one snapshot and no reset');

    const from = await page.evaluate(() => __devmon.snapshotId());
    const held = ids.slice(1);
    const stream = await streamIds(from === null ? '-' : '(' + from, last);

    assert.ok(held.length > 0, label + ': events arrived');
    assert.equal(held.length, stream.length,
                 label + ': as many events as the stream holds');
    assert.deepEqual(held, stream, label + ': the same ids in order');
    assert.equal(new Set(held).size, held.length, label + ': no duplicates');

    const stats = await page.evaluate(() => __devmon.stats());

    assert.equal(stats.duplicates, 0,
                 label + ': the server sent no event twice');

    return { held: held.length, stats };
}


let ctx;
let page;
const tokens = new Set();
const requests = [];

before(async () => {
    const profile = fs.mkdtempSync(path.join(env('DASH_TMP'),
                                             'chromium-'));

    ctx = await chromium.launchPersistentContext(profile, {
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu',
               '--disable-quic', '--no-first-run',
               '--disable-background-networking',
               '--disable-component-update', '--disable-sync'],
        viewport: { width: 1280, height: 800 },
        acceptDownloads: true
    });

    /* the page keeps every event id only for these exactly-once checks */
    await ctx.addInitScript(() => { window.devmonKeepIds = 200000; });

    ctx.on('request', (r) => requests.push({ url: r.url().split('#')[0],
                                             headers: r.headers() }));
    ctx.on('page', (p) => p.on('websocket', (ws) =>
        requests.push({ url: ws.url(), headers: {} })));
    page = ctx.pages()[0] ?? await ctx.newPage();
    page.on('websocket', (ws) => requests.push({ url: ws.url(),
                                                 headers: {} }));
    page.on('pageerror', (e) => console.error('# page error:', e.message));
    await page.exposeFunction('devmonGetToken', async () => {
        const t = mint(3600);

        tokens.add(t);
        return t;
    });
});

after(async () => {
    await ctx?.close();
    fs.writeFileSync(CONTROL, 'up');
});


test('the page loads through nginx and lists the devices', async () => {
    const token = mint(3600);

    /* probed writes its device catalogue on start */
    await waitFor('the device catalogue in Redis', async () =>
        await redis('HLEN', 'devmon:{' + ACCOUNT + '}:devices')
        >= DEVICES.length, 10000);

    tokens.add(token);
    await page.goto(URL_BASE + '/#token=' + token);

    await waitFor('status live', () =>
        page.evaluate(() => __devmon.status() === 'live'), 10000);

    await waitFor('a row per device', () => page.evaluate((n) =>
        document.querySelectorAll('#rows tr').length >= n, DEVICES.length),
        10000);

    for (const dev of DEVICES) {
        const name = await page.locator('#rows tr[data-d="' + dev.id
                                        + '"] td.name').textContent();

        assert.equal(name, dev.name, 'row of ' + dev.id);
    }

    assert.equal(await page.textContent('#n-all'),
                 String(await page.evaluate(() =>
                     document.querySelectorAll('#rows tr').length)));
    assert.equal(await page.textContent('#conn-text'), 'Live');
    assert.ok(!page.url().includes('token'),
              'the token is wiped from the address bar');
});


test('a device that goes down shows down within a cycle and a second',
     async () => {
    const row = '#rows tr[data-d="web"]';

    await waitFor('web up', async () =>
        (await page.textContent(row + ' .badge')) === 'up', 15000);

    const t0 = Date.now();

    fs.writeFileSync(CONTROL, 'closed');

    await waitFor('web down', async () =>
        (await page.textContent(row + ' .badge')) === 'down',
        INTERVAL + 3000);

    const took = Date.now() - t0;

    assert.ok(took <= INTERVAL + 1000,
              'down after ' + took + ' ms (cycle ' + INTERVAL + ' ms)');
    assert.match(await page.getAttribute(row, 'class'), /s-down/);

    fs.writeFileSync(CONTROL, 'up');

    await waitFor('web up again', async () =>
        (await page.textContent(row + ' .badge')) === 'up',
        INTERVAL * 3 + 2000);
});


test('chart points are coloured against the visible median; CSV export',
     async () => {
    const base = Date.now() - 60000;
    const rts = [10, 11, 9, 10, 10, 21, 35, 10, 19.9, 30];
    const lines = rts.map((rt, i) =>
        ACCOUNT + ' synth|lab|http ' + JSON.stringify({
            d: 'synth', r: 'lab', k: 'http', t: base + i * 1000,
            st: 'up', rt: rt, pl: 0, sc: 200, dn: 1, cn: 2, ft: rt - 3
        }));
    const out = publish(lines).trim().split('\n');

    assert.equal(out.length, rts.length, 'devmon-publish printed ids');

    const ids = out.map((l) => l.split(' ')[0]);

    await waitFor('synth row', () => page.evaluate(() =>
        document.querySelector('#rows tr[data-d="synth"]') !== null), 5000);

    await page.click('#rows tr[data-d="synth"] td.name button');
    await waitFor('chart drawn', () => page.evaluate(() =>
        document.querySelector('#chart canvas') !== null), 10000);
    await waitFor('all probes in the view', () => page.evaluate((n) =>
        __devmon.visible().length === n, rts.length), 5000);

    /* median of the ten is 10.5: >= 21 amber, >= 31.5 red */
    const expectFlag = (rt, med) => rt >= 3 * med ? 'f-red'
                                    : rt >= 2 * med ? 'f-amber' : '';
    const rows = await page.$$eval('#probe-rows tr', (trs) =>
        trs.map((tr) => ({ id: tr.dataset.id, cls: tr.className,
                           text: tr.lastChild.textContent })));

    assert.equal(rows.length, rts.length);

    rows.reverse().forEach((r, i) => {
        const want = expectFlag(rts[i], 10.5);

        assert.equal(r.id, ids[i]);
        assert.equal(r.cls, want, 'row ' + i + ' rt ' + rts[i]);
        assert.equal(r.text, want === 'f-red' ? '\u22653\u00d7 median'
                             : want === 'f-amber' ? '\u22652\u00d7 median'
                             : 'normal',
                     'flag written as text, row ' + i);
    });

    const series = await page.evaluate(() => __devmon.chartData());

    assert.deepEqual(series[2], [10, 11, 9, 10, 10, null, null, 10, 19.9,
                                 null], 'normal points');
    assert.deepEqual(series[3], [null, null, null, null, null, 21, null,
                                 null, null, 30], 'amber points');
    assert.deepEqual(series[4], [null, null, null, null, null, null, 35,
                                 null, null, null], 'red points');

    /* drag across probes 1 to 4: their median (10) rules */
    const box = await page.locator('#chart .u-over').boundingBox();
    const xOf = (i) => page.evaluate((t) => __devmon.chartX(t),
                                     (base + i * 1000) / 1000);
    const x0 = await xOf(0.5);
    const x4 = await xOf(4.5);

    await page.mouse.move(box.x + x0, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + x4, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();

    await waitFor('zoomed view', () => page.evaluate(() =>
        __devmon.visible().length === 4), 5000);

    const zoomed = await page.evaluate(() => __devmon.chartData());

    assert.deepEqual(zoomed[3], [null, null, null, null, null, 21, null,
                                 null, null, null],
                     'against the visible median 10, 21 is amber');
    assert.deepEqual(zoomed[4], [null, null, null, null, null, null, 35,
                                 null, null, 30], 'and 35 and 30 are red');

    /* CSV of the visible window, through the download button */
    const [dl] = await Promise.all([
        page.waitForEvent('download'),
        page.click('[data-export="csv"][data-scope="visible"]')
    ]);
    const csv = fs.readFileSync(await dl.path(), 'utf8').split('\r\n');

    assert.equal(csv[0], 'id,time,device,region,kind,status,rt_ms,'
                 + 'loss_pct,status_code,dns_ms,connect_ms,tls_ms,ttfb_ms,'
                 + 'error,flag');
    assert.equal(csv.length, 4 + 2, 'header, four probes, final newline');
    assert.equal(csv[1], ids[1] + ',' + new Date(base + 1000).toISOString()
                 + ',synth,lab,http,up,11,0,200,1,2,,8,,');
    assert.equal(csv.at(-1), '');

    /* the whole buffer: ten probes and the flags of the ten-probe median */
    const all = await page.evaluate(() => __devmon.exportText('csv', 'all'));
    const allLines = all.trim().split('\r\n');

    assert.equal(allLines.length, 11);
    assert.match(allLines[7], /,35,0,200,1,2,,32,,>=3x median$/);

    const json = JSON.parse(await page.evaluate(() =>
        __devmon.exportText('json', 'visible')));

    assert.equal(json.median_rt, 10);
    assert.deepEqual(json.probes.map((p) => p.id), ids.slice(1, 5));

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS,
                                            'dashboard-device.png') });

    await page.keyboard.press('Escape');
    await waitFor('back to the table', () => page.evaluate(() =>
        !document.getElementById('overview').hidden), 2000);
});


test('nginx -s reload: no offline, and the page holds the stream exactly',
     async () => {
    const before = await page.evaluate(() => __devmon.stats());

    /* publish all along so some events land during each reload */
    let n = 0;
    let publishing = true;
    const pump = (async () => {
        while (publishing) {
            const batch = [];

            for (let i = 0; i < 20; i++, n++) {
                batch.push(ACCOUNT + ' - ' + JSON.stringify({
                    d: 'load', r: 'lab', k: 'tcp', t: Date.now(), st: 'up',
                    rt: 1 + (n % 7), pl: 0 }));
            }

            publish(batch);
            await sleep(50);
        }
    })();

    for (let i = 0; i < 2; i++) {
        await sleep(1500);
        execFileSync(RELOAD[0], RELOAD.slice(1), { timeout: 10000 });
        await sleep(2500);
    }

    publishing = false;
    await pump;

    const after = await waitFor('reconnected', async () => {
        const s = await page.evaluate(() => __devmon.stats());

        return s.connects >= before.connects + 2 ? s : false;
    }, 15000);

    assert.ok(after.closes.filter((c) => c === 1001).length >= 2,
              'the old workers closed with 1001: ' + after.closes);

    const log = await page.evaluate(() => __devmon.statusLog());

    assert.ok(!log.some((s) => s.status === 'offline'),
              'never offline: ' + JSON.stringify(log));
    assert.equal(await page.evaluate(() => __devmon.status()), 'live');

    const r = await assertHoldsStream(page, 'after reloads');

    assert.ok(r.held >= n, 'the page holds the ' + n + ' published events');

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png') });

});


test('a token that expires is renewed without losing anything',
     async () => {
    const p2 = await ctx.newPage();
    let renewed = 0;

    await p2.exposeFunction('devmonGetToken', async () => {
        const t = mint(3600);

        renewed++;
        tokens.add(t);
        return t;
    });

    /*
     * The server warns NOTICE seconds before exp; the client's own
     * fallback would renew only 5 s before it, so the notice comes first.
     */
    const ttl = NOTICE + 6;
    const short = mint(ttl);

    tokens.add(short);
    await p2.goto(URL_BASE + '/#token=' + short);
    await waitFor('second page live', () =>
        p2.evaluate(() => __devmon.status() === 'live'), 10000);

    const exp = Math.floor(Date.now() / 1000) + ttl;

    /* events keep coming past the old token's expiry */
    const until = exp * 1000 + 4000;

    while (Date.now() < until) {
        publish([ACCOUNT + ' - ' + JSON.stringify({
            d: 'load', r: 'lab', k: 'tcp', t: Date.now(), st: 'up', rt: 2,
            pl: 0 })]);
        await sleep(500);
    }

    assert.ok(renewed >= 1, 'the page asked for a fresh token');

    const stats = await p2.evaluate(() => __devmon.stats());
    const log = await p2.evaluate(() => __devmon.statusLog());

    assert.ok(stats.notices >= 1, 'the server sent token_expiring');
    assert.ok(stats.authOk >= 1, 'the server accepted the fresh token: '
              + JSON.stringify(stats));
    assert.ok(!stats.closes.includes(4001), 'no 4001 close');
    assert.ok(!log.some((s) => s.status === 'offline'),
              'never offline: ' + JSON.stringify(log));
    assert.equal(await p2.evaluate(() => __devmon.status()), 'live');

    await assertHoldsStream(p2, 'after renewal');
    await p2.close();
});


/*
 * Behaviour under load, not a timing test: the long tasks seen are printed
 * for the record (performance belongs to benchmarks), the assertions are
 * about delivery, focus and order.
 */
test('1,000 devices publishing, sorted by response time: every event '
     + 'applied, focus stays, rows re-sorted', async () => {
    const acct = 'dashload';
    const n = 1000;
    const secs = 10;
    const p3 = await ctx.newPage();
    const token = mint(3600, 'loader', acct);

    /* one devmon-publish per round: it reads all its input first */
    const round = () => {
        const lines = [];

        for (let i = 0; i < n; i++) {
            const d = 'dev' + String(i).padStart(4, '0');
            const e = { d: d, r: 'lab', k: 'icmp', st: 'up',
                        rt: Math.round(Math.random() * 5000) / 100, pl: 0 };

            lines.push(acct + ' ' + d + '|lab|icmp ' + JSON.stringify(e));
        }

        return new Promise((resolve, reject) => {
            const child = execFile(PUBLISH, ['-p', String(REDIS_PORT)],
                                   { timeout: 20000 }, (err, out) => {
                if (err) {
                    reject(err);
                } else {
                    assert.equal(out.split('\n').length - 1, n,
                                 'one id per event');
                    resolve();
                }
            });

            child.stdin.end(lines.join('\n') + '\n');
        });
    };

    try {
        await round();

        await p3.exposeFunction('devmonGetToken', async () => token);
        await p3.addInitScript(() => {
            window.longTasks = [];
            new PerformanceObserver((list) => {
                for (const e of list.getEntries()) {
                    window.longTasks.push(Math.round(e.duration));
                }
            }).observe({ type: 'longtask' });
        });
        tokens.add(token);
        await p3.goto(URL_BASE + '/#token=' + token);
        await waitFor('a row per device', () => p3.evaluate((k) =>
            document.querySelectorAll('#rows tr').length === k, n), 15000);

        await p3.click('button[data-key="rt"]');
        await sleep(1500);

        /* a row deep in the list has the focus through the re-sorts */
        await p3.focus('#rows tr:nth-child(500) button');

        const focused = await p3.evaluate(() =>
            document.activeElement.dataset.d);
        const before = await p3.evaluate(() => {
            window.longTasks = [];
            return __devmon.stats().events;
        });

        for (let i = 0; i < secs; i++) {
            const next = Date.now() + 1000;

            await round();
            await sleep(Math.max(0, next - Date.now()));
        }

        /* the data is still now: one more re-sort puts it in order */
        await sleep(6000);

        const r = await p3.evaluate(() => ({
            tasks: window.longTasks.slice(),
            events: __devmon.stats().events,
            focus: document.activeElement?.dataset?.d ?? null,
            rts: Array.from(document.querySelectorAll('#rows tr'))
                 .map((tr) => parseFloat(tr.children[4].textContent))
        }));

        console.log('# long tasks (ms) with ' + n + ' devices: '
                    + JSON.stringify(r.tasks));
        assert.ok(r.events - before >= n * (secs - 1),
                  'events arrived: ' + (r.events - before));
        assert.equal(r.focus, focused, 'focus kept through re-sorts');

        /* it did re-sort: the rows written are in order of response time */
        const shown = r.rts.slice(0, 20).filter((v) => !Number.isNaN(v));

        assert.ok(shown.length >= 10, 'top rows have figures');
        assert.deepEqual(shown, shown.slice().sort((a, b) => a - b));

    } finally {
        await p3.close();
    }
});


test('the token went nowhere but the WebSocket handshake', async () => {
    assert.ok(requests.length > 0);

    for (const r of requests) {
        const where = r.url + ' ' + JSON.stringify(r.headers);
        const ws = r.url.startsWith('ws:');

        for (const t of tokens) {
            if (ws) {
                assert.ok(!r.url.includes(t), 'not in the WS URL');
            } else {
                assert.ok(!where.includes(t), 'not sent with ' + r.url);
            }
        }
    }
});
