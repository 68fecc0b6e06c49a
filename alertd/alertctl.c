/* alertctl: devmon-alertctl, shows and sets alert preferences in Redis */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "alert.h"
#include "alert_conf.h"
#include "alert_render.h"


static void ctl_usage(FILE *out);
static redisReply *ctl_cmd(redisContext *rc, int argc, const char **argv);
static int ctl_user_set(redisContext *rc, const char *acct, const char *user,
    int argc, char **argv);
static int ctl_user_show(redisContext *rc, const char *acct,
    const char *user);
static int ctl_user_del(redisContext *rc, const char *acct, const char *user);
static int ctl_status(redisContext *rc, const char *acct);
static int ctl_valid_id(const char *s);


int
main(int argc, char **argv)
{
    int             c, port, db, rc;
    char            dbs[16], err[ALERT_CONF_ERRLEN];
    const char     *host, *sock, *pass, *file, *av[2];
    redisReply     *r;
    alert_conf_t   *conf;
    redisContext   *ctx;
    struct timeval  tv = { 5, 0 };

    host = "127.0.0.1";
    port = 6379;
    sock = "";
    db = 0;
    file = NULL;
    pass = getenv("DEVMON_REDIS_PASSWORD");

    while ((c = getopt(argc, argv, "h:p:s:n:c:H")) != -1) {
        switch (c) {

        case 'h':
            host = optarg;
            break;

        case 'p':
            port = atoi(optarg);
            break;

        case 's':
            sock = optarg;
            break;

        case 'n':
            db = atoi(optarg);
            break;

        case 'c':
            file = optarg;
            break;

        case 'H':
            ctl_usage(stdout);
            return 0;

        default:
            ctl_usage(stderr);
            return 2;
        }
    }

    conf = NULL;

    if (file != NULL) {
        conf = alert_conf_load(file, err);
        if (conf == NULL) {
            fprintf(stderr, "devmon-alertctl: %s\n", err);
            return 1;
        }

        host = conf->redis.host;
        port = conf->redis.port;
        sock = conf->redis.socket;
        db = conf->redis.db;
        pass = conf->redis.password[0] ? conf->redis.password : pass;
    }

    argc -= optind;
    argv += optind;

    if (argc < 2 || (strcmp(argv[0], "user") == 0 && argc < 3)) {
        ctl_usage(stderr);
        return 2;
    }

    ctx = sock[0] ? redisConnectUnixWithTimeout(sock, tv)
                  : redisConnectWithTimeout(host, port, tv);

    if (ctx == NULL || ctx->err) {
        fprintf(stderr, "devmon-alertctl: redis: %s\n",
                ctx ? ctx->errstr : "out of memory");
        return 1;
    }

    redisSetTimeout(ctx, tv);

    if (pass != NULL && pass[0]) {
        av[0] = "AUTH";
        av[1] = pass;
        r = ctl_cmd(ctx, 2, av);
        if (r == NULL) {
            return 1;
        }
        freeReplyObject(r);
    }

    if (db) {
        snprintf(dbs, sizeof(dbs), "%d", db);
        av[0] = "SELECT";
        av[1] = dbs;
        r = ctl_cmd(ctx, 2, av);
        if (r == NULL) {
            return 1;
        }
        freeReplyObject(r);
    }

    if ((strcmp(argv[0], "user") != 0 && !ctl_valid_id(argv[1]))
        || (strcmp(argv[0], "user") == 0
            && (!ctl_valid_id(argv[2])
                || (argc > 3 && !ctl_valid_id(argv[3])))))
    {
        fprintf(stderr, "devmon-alertctl: ids are 1-99 characters without "
                "braces, colons, bars or spaces\n");
        return 2;
    }

    if (strcmp(argv[0], "status") == 0) {
        rc = ctl_status(ctx, argv[1]);

    } else if (strcmp(argv[0], "user") != 0) {
        ctl_usage(stderr);
        rc = 2;

    } else if (strcmp(argv[1], "set") == 0 && argc >= 4) {
        rc = ctl_user_set(ctx, argv[2], argv[3], argc - 4, argv + 4);

    } else if (strcmp(argv[1], "show") == 0) {
        rc = ctl_user_show(ctx, argv[2], argc > 3 ? argv[3] : NULL);

    } else if (strcmp(argv[1], "del") == 0 && argc == 4) {
        rc = ctl_user_del(ctx, argv[2], argv[3]);

    } else {
        ctl_usage(stderr);
        rc = 2;
    }

    redisFree(ctx);
    alert_conf_free(conf);

    return rc;
}


static void
ctl_usage(FILE *out)
{
    fprintf(out,
        "usage: devmon-alertctl [-c alertd.json | -h host -p port | -s sock]"
        " [-n db]\n"
        "         user set ACCOUNT USER key=value... | none | all\n"
        "         user show ACCOUNT [USER]\n"
        "         user del ACCOUNT USER\n"
        "         status ACCOUNT\n"
        "keys: email, webhook, channels (email,webhook | none),\n"
        "      webhook_format (json | slack), enabled, offline, recovery,\n"
        "      degraded, flapping, region (1 or 0); an empty value removes\n"
        "      the key (its default applies).  \"none\" turns every kind\n"
        "      off, \"all\" on.  The Redis password is read from the\n"
        "      configuration or DEVMON_REDIS_PASSWORD.\n");
}


static int
ctl_valid_id(const char *s)
{
    size_t  n;

    n = strlen(s);

    return n > 0 && n < 100 && strpbrk(s, "{}:| \t\r\n") == NULL;
}


static redisReply *
ctl_cmd(redisContext *rc, int argc, const char **argv)
{
    redisReply  *r;

    r = redisCommandArgv(rc, argc, argv, NULL);

    if (r == NULL) {
        fprintf(stderr, "devmon-alertctl: redis: %s\n", rc->errstr);
        return NULL;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "devmon-alertctl: redis: %s\n", r->str);
        freeReplyObject(r);
        return NULL;
    }

    return r;
}


static int
ctl_user_set(redisContext *rc, const char *acct, const char *user, int argc,
    char **argv)
{
    int            i, k, n;
    char           key[300], ukey[300], name[64], *eq;
    const char    *av[64];
    redisReply    *r;
    alert_user_t   scratch;

    snprintf(key, sizeof(key), "devmon:{%s}:user:%s", acct, user);
    snprintf(ukey, sizeof(ukey), "devmon:{%s}:users", acct);

    alert_user_init(&scratch, user);

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "none") == 0 || strcmp(argv[i], "all") == 0) {
            for (k = 0; k < AK_N; k++) {
                av[0] = "HSET";
                av[1] = key;
                av[2] = alert_kind_names[k];
                av[3] = argv[i][0] == 'n' ? "0" : "1";

                if ((r = ctl_cmd(rc, 4, av)) == NULL) {
                    return 1;
                }
                freeReplyObject(r);
            }

            continue;
        }

        eq = strchr(argv[i], '=');
        n = eq ? eq - argv[i] : 0;

        if (eq == NULL || n == 0 || n >= (int) sizeof(name)) {
            fprintf(stderr, "devmon-alertctl: \"%s\": use key=value\n",
                    argv[i]);
            return 2;
        }

        memcpy(name, argv[i], n);
        name[n] = '\0';

        if (eq[1] != '\0' && alert_user_set(&scratch, name, eq + 1) != 0) {
            fprintf(stderr, "devmon-alertctl: \"%s\": unknown key or bad "
                    "value\n", argv[i]);
            return 2;
        }

        av[0] = eq[1] ? "HSET" : "HDEL";
        av[1] = key;
        av[2] = name;
        av[3] = eq + 1;

        if ((r = ctl_cmd(rc, eq[1] ? 4 : 3, av)) == NULL) {
            return 1;
        }
        freeReplyObject(r);
    }

    av[0] = "SADD";
    av[1] = ukey;
    av[2] = user;

    if ((r = ctl_cmd(rc, 3, av)) == NULL) {
        return 1;
    }
    freeReplyObject(r);

    return ctl_user_show(rc, acct, user);
}


static int
ctl_user_show(redisContext *rc, const char *acct, const char *user)
{
    int            k;
    char           key[300];
    size_t         i, j;
    const char    *av[2];
    redisReply    *users, *r;
    alert_user_t   u;

    if (user != NULL) {
        users = NULL;

    } else {
        snprintf(key, sizeof(key), "devmon:{%s}:users", acct);
        av[0] = "SMEMBERS";
        av[1] = key;

        if ((users = ctl_cmd(rc, 2, av)) == NULL) {
            return 1;
        }
    }

    for (i = 0; users == NULL ? i < 1 : i < users->elements; i++) {
        alert_user_init(&u, users ? users->element[i]->str : user);

        snprintf(key, sizeof(key), "devmon:{%s}:user:%s", acct, u.id);
        av[0] = "HGETALL";
        av[1] = key;

        if ((r = ctl_cmd(rc, 2, av)) == NULL) {
            freeReplyObject(users);
            return 1;
        }

        for (j = 0; j + 1 < r->elements; j += 2) {
            alert_user_set(&u, r->element[j]->str, r->element[j + 1]->str);
        }

        freeReplyObject(r);

        printf("%s: email=%s webhook=%s%s channels=%s%s%s enabled=%d",
               u.id, u.email[0] ? u.email : "-",
               u.webhook[0] ? u.webhook : "-", u.slack ? " (slack)" : "",
               (u.channels & ALERT_CH_EMAIL) ? "email" : "",
               u.channels == (ALERT_CH_EMAIL | ALERT_CH_WEBHOOK) ? "," : "",
               (u.channels & ALERT_CH_WEBHOOK) ? "webhook"
               : u.channels ? "" : "none", u.enabled);

        for (k = 0; k < AK_N; k++) {
            printf(" %s=%d", alert_kind_names[k], u.want[k]);
        }

        printf("\n");
    }

    freeReplyObject(users);

    return 0;
}


static int
ctl_user_del(redisContext *rc, const char *acct, const char *user)
{
    char         key[300];
    const char  *av[3];
    redisReply  *r;

    snprintf(key, sizeof(key), "devmon:{%s}:user:%s", acct, user);
    av[0] = "DEL";
    av[1] = key;

    if ((r = ctl_cmd(rc, 2, av)) == NULL) {
        return 1;
    }
    freeReplyObject(r);

    snprintf(key, sizeof(key), "devmon:{%s}:users", acct);
    av[0] = "SREM";
    av[1] = key;
    av[2] = user;

    if ((r = ctl_cmd(rc, 3, av)) == NULL) {
        return 1;
    }

    printf("%s: removed\n", user);
    freeReplyObject(r);

    return 0;
}


static int
ctl_status(redisContext *rc, const char *acct)
{
    char          key[300];
    size_t        i;
    const char   *av[2];
    redisReply   *r;

    snprintf(key, sizeof(key), "devmon:{%s}:alert:dev", acct);
    av[0] = "HGETALL";
    av[1] = key;

    if ((r = ctl_cmd(rc, 2, av)) == NULL) {
        return 1;
    }

    printf("devices (field -> alert state):\n");

    for (i = 0; i + 1 < r->elements; i += 2) {
        printf("  %s %s\n", r->element[i]->str, r->element[i + 1]->str);
    }

    freeReplyObject(r);

    snprintf(key, sizeof(key), "devmon:{%s}:alert:pending", acct);
    av[0] = "LLEN";
    av[1] = key;

    if ((r = ctl_cmd(rc, 2, av)) == NULL) {
        return 1;
    }

    printf("pending notes: %lld\n", r->integer);
    freeReplyObject(r);

    snprintf(key, sizeof(key), "devmon:{%s}:alert:outbox", acct);
    av[0] = "HLEN";
    av[1] = key;

    if ((r = ctl_cmd(rc, 2, av)) == NULL) {
        return 1;
    }

    printf("outbox (undelivered messages): %lld\n", r->integer);
    freeReplyObject(r);

    return 0;
}
