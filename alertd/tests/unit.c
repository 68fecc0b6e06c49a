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

    alert_acct_free(&a);
    alert_acct_free(&b);

    printf("1..%d\n", checks);

    return failures != 0;
}
