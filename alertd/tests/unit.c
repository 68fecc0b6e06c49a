/* unit: alert decisions (cooldown, hold, flapping, regions) and preferences */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_state.h"
#include "alert_render.h"


static int  failures, checks;


#define CHECK(cond, what)                                                     \
    do {                                                                      \
        checks++;                                                             \
        if (!(cond)) {                                                        \
            failures++;                                                       \
            printf("not ok %d - %s (line %d)\n", checks, what, __LINE__);     \
        } else {                                                              \
            printf("ok %d - %s\n", checks, what);                             \
        }                                                                     \
    } while (0)


static void
feed(alert_acct_t *a, const char *dev, int64_t t, int st, int was, int fl)
{
    alert_event_t  ev;

    memset(&ev, 0, sizeof(ev));
    ev.device = dev;
    ev.region = "fra";
    ev.t = t;
    ev.st = st;
    ev.was = was;
    ev.er = st == AST_DOWN ? "timeout" : NULL;
    ev.fl = fl;
    ev.ok = -1;

    alert_state_event(a, &ev);
}


static void
region(alert_acct_t *a, int64_t t, int ok)
{
    alert_event_t  ev;

    memset(&ev, 0, sizeof(ev));
    ev.region_ev = 1;
    ev.region = "fra";
    ev.t = t;
    ev.ok = ok;

    alert_state_event(a, &ev);
}


static int
count(alert_acct_t *a, int kind)
{
    int  i, n;

    for (i = 0, n = 0; i < a->npending; i++) {
        n += a->pending[i].kind == kind;
    }

    return n;
}


int
main(void)
{
    char            *s;
    alert_acct_t     a, b;
    alert_user_t     u;
    alert_note_t     n;
    alert_policy_t   p = { 60000, 5000, 1000 };

    alert_acct_init(&a, "acme", &p);

    feed(&a, "d", 1000, AST_UP, AST_UNKNOWN, 0);
    CHECK(a.npending == 0, "first up says nothing");

    feed(&a, "d", 2000, AST_DOWN, AST_UP, 0);
    CHECK(count(&a, AK_OFFLINE) == 1, "down: one offline alert");

    feed(&a, "d", 3000, AST_UP, AST_DOWN, 0);
    CHECK(a.npending == 1, "up: recovery waits for the hold");
    alert_state_tick(&a, 7999);
    CHECK(a.npending == 1, "not before the hold ends");
    alert_state_tick(&a, 8000);
    CHECK(count(&a, AK_RECOVERY) == 1, "recovery once it stayed up");
    CHECK(a.pending[1].down_ms == 1000, "recovery says how long it was down");

    feed(&a, "d", 9000, AST_DOWN, AST_UP, 0);
    CHECK(count(&a, AK_OFFLINE) == 1, "down again in the cooldown: no alert");
    alert_state_tick(&a, 62000);
    CHECK(count(&a, AK_OFFLINE) == 2, "cooldown over, still down: told");

    /* round trip through the Redis encoding keeps the decisions */
    s = alert_dev_encode(alert_dev_get(&a, "d", "fra", 0));
    alert_acct_init(&b, "acme", &p);
    CHECK(s != NULL && alert_dev_decode(&b, s) == 0, "record decodes");
    CHECK(alert_dev_get(&b, "d", "fra", 0)->ns == AST_DOWN
          && alert_dev_get(&b, "d", "fra", 0)->cd == 62000 + 60000,
          "notified state and cooldown survive a restart");
    free(s);

    s = alert_note_encode(&a.pending[0]);
    CHECK(s != NULL && alert_note_decode(s, &n) == 0
          && n.kind == AK_OFFLINE && strcmp(n.er, "timeout") == 0,
          "a pending note survives a restart");
    free(s);

    /* flapping: offline, one notice, then the recovery once stable */
    alert_acct_reset(&b);
    feed(&b, "f", 1000, AST_UP, AST_UNKNOWN, 0);
    feed(&b, "f", 2000, AST_DOWN, AST_UP, 0);
    feed(&b, "f", 3000, AST_UP, AST_DOWN, 0);
    feed(&b, "f", 4000, AST_DOWN, AST_UP, 1);
    feed(&b, "f", 5000, AST_UP, AST_DOWN, 1);
    feed(&b, "f", 6000, AST_DOWN, AST_UP, 1);
    feed(&b, "f", 7000, AST_UP, AST_DOWN, 1);
    alert_state_tick(&b, 20000);
    CHECK(b.npending == 2 && count(&b, AK_FLAPPING) == 1,
          "flapping: one offline and one notice, no recovery yet");
    feed(&b, "f", 30000, AST_UP, AST_UP, 0);
    CHECK(b.npending == 3 && count(&b, AK_RECOVERY) == 1
          && b.pending[2].flag == 1, "flap end: recovery, after flapping");

    /* a failed region takes back what its devices said in the window */
    alert_acct_reset(&b);
    feed(&b, "r", 1000, AST_UP, AST_UNKNOWN, 0);
    feed(&b, "r", 2000, AST_DOWN, AST_UP, 0);
    region(&b, 2500, 0);
    CHECK(b.npending == 1 && b.pending[0].kind == AK_REGION,
          "region failure replaces the device alert");
    region(&b, 9000, 1);
    CHECK(count(&b, AK_OFFLINE) == 1 && count(&b, AK_REGION) == 2,
          "region back: the device still down is told");

    alert_user_init(&u, "bob");
    CHECK(u.want[AK_OFFLINE] && u.want[AK_RECOVERY] && !u.want[AK_DEGRADED],
          "defaults: offline and recovery on, degraded off");
    CHECK(alert_user_set(&u, "recovery", "0") == 0 && !u.want[AK_RECOVERY],
          "recovery=0");
    CHECK(alert_user_set(&u, "channels", "webhook") == 0
          && u.channels == ALERT_CH_WEBHOOK, "channels=webhook");
    CHECK(alert_user_set(&u, "colour", "blue") != 0, "unknown key refused");
    CHECK(alert_user_set(&u, "email", "a@b\r\nBcc: x") != 0,
          "an address that would end a header is refused");
    CHECK(u.email[0] == '\0', "a refused address is not kept");
    CHECK(alert_user_set(&u, "email", "ok@test.invalid") == 0
          && strcmp(u.email, "ok@test.invalid") == 0, "a good address");
    CHECK(alert_user_set(&u, "email", "x@y\nBcc: z@w") != 0
          && strcmp(u.email, "ok@test.invalid") == 0,
          "a bad address leaves the good one in place");
    CHECK(alert_user_set(&u, "webhook", "https://h/x\r\nX: y") != 0
          && u.webhook[0] == '\0', "a webhook with a line break is refused");
    CHECK(alert_user_set(&u, "webhook", "ftp://h/x") != 0,
          "a webhook must be http(s)");

    {
        alert_msg_t      *m, *m2;
        alert_note_t      note;
        alert_devinfo_t   info;
        char              dest[300], *enc;

        m = alert_msg_new("1.1", "acme", ALERT_CH_WEBHOOK,
                          "https://user:pw@hooks.test:8443/T0/SECRET?k=v",
                          "{}");
        alert_msg_dest(m, dest, sizeof(dest));
        CHECK(strcmp(dest, "https://hooks.test:8443/...") == 0,
              "a webhook URL is logged as scheme and host only");

        m->attempts = 3;
        m->next_try = 1234567;
        enc = alert_msg_encode(m);
        m2 = enc ? alert_msg_decode("acme", "1.1", enc) : NULL;
        CHECK(m2 != NULL && m2->attempts == 3 && m2->next_try == 1234567,
              "attempts and the next try survive the outbox encoding");
        free(enc);
        alert_msg_free(m);
        alert_msg_free(m2);

        memset(&note, 0, sizeof(note));
        memset(&info, 0, sizeof(info));
        note.kind = AK_OFFLINE;
        note.st = AST_DOWN;
        note.t = 1732270000123LL;
        snprintf(note.device, sizeof(note.device), "sw1");
        snprintf(note.region, sizeof(note.region), "fra");
        snprintf(info.name, sizeof(info.name), "%s",
                 "Z\xc3\xbcrich \xe2\x80\x94 core switch with a very "
                 "long name that goes on and on and on and on and on and "
                 "on and on and on and on and on and on and on and on and "
                 "on and on and on and on and on and on and on and on");
        u.channels = ALERT_CH_EMAIL;
        m = alert_render("acme", &u, ALERT_CH_EMAIL, &note, &info, 1, 0,
                         "devmon@test.invalid", "[devmon]", "2.1");
        CHECK(m != NULL && strstr(m->body, "Subject: =?UTF-8?B?") != NULL,
              "a non-ASCII subject is an RFC 2047 encoded-word");
        {
            const char  *h;

            h = m ? strstr(m->body, "\r\n\r\n") : NULL;

            while (h != NULL && h > m->body && (unsigned char) h[-1] < 0x80)
            {
                h--;
            }

            CHECK(h == m->body, "no raw 8-bit byte in the headers");
        }
        {
            const char  *p, *e;
            size_t       longest, len;

            longest = 0;
            p = m ? strstr(m->body, "Subject:") : NULL;
            e = m ? strstr(m->body, "\r\nDate:") : NULL;
            len = 0;

            while (p != NULL && e != NULL && p < e) {
                len = strcspn(p, "\r");
                longest = len > longest ? len : longest;
                p += len;
                p = p < e ? p + 2 : e;
            }

            CHECK(p != NULL && longest > 0 && longest <= 78,
                  "encoded subject lines stay within 78 characters");
            CHECK(e != NULL && e - strstr(m->body, "Subject:") < 400,
                  "a long subject is capped");
        }
        alert_msg_free(m);
    }

    {
        json_t         *root;
        alert_event_t   ev;

        /* an event's time: "t" if it has one, else its stream id's ms */
        CHECK(alert_event_parse("1795393528897-0",
                  "{\"type\":\"state\",\"d\":\"sw1\",\"r\":\"fra\","
                  "\"st\":\"down\",\"was\":\"up\"}", &ev, &root) == 1
              && ev.t == 1795393528897LL,
              "a prompt state change takes its time from the stream id");
        json_decref(root);

        CHECK(alert_event_parse("1795393528897-0",
                  "{\"t\":1795393520000,\"type\":\"state\",\"d\":\"sw1\","
                  "\"r\":\"fra\",\"st\":\"down\",\"was\":\"up\"}", &ev,
                  &root) == 1
              && ev.t == 1795393520000LL,
              "a late state change keeps its own \"t\"");
        json_decref(root);

        CHECK(alert_event_parse("1795393528897-0",
                  "{\"type\":\"region\",\"r\":\"fra\",\"iv\":30000}",
                  &ev, &root) == 1
              && ev.region_ev && ev.t == 1795393528897LL,
              "a heartbeat without \"t\" is timed by its id");
        json_decref(root);
    }

    alert_acct_free(&a);
    alert_acct_free(&b);

    printf("1..%d\n", checks);

    return failures != 0;
}
