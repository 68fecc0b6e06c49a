/* devmon-publish: publish events from the command line through publish.lua */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "publish.h"


typedef struct {
    int             failed;
    size_t          done;
    size_t          total;
} cli_t;


static void cli_usage(FILE *out);
static void cli_done(void *data, const char *id, const char *epoch,
    const char *err);
static void cli_idle(void *data);
static int cli_submit(char *account, char *field, char *json);


static struct event_base  *cli_base;
static cli_t               cli;


int
main(int argc, char **argv)
{
    int              c;
    char            *line, *account, *field, *json;
    size_t           cap;
    ssize_t          n;
    publish_conf_t   pc;

    memset(&pc, 0, sizeof(pc));
    pc.host = "127.0.0.1";
    pc.port = 6379;
    pc.socket = "";
    pc.password = "";
    pc.maxlen = 10000;
    pc.connect_timeout = 5;
    pc.window = 256;
    pc.fail_fast = 1;

    while ((c = getopt(argc, argv, "h:p:s:a:n:w:H")) != -1) {
        switch (c) {

        case 'h':
            pc.host = optarg;
            break;

        case 'p':
            pc.port = atoi(optarg);
            break;

        case 's':
            pc.socket = optarg;
            break;

        case 'a':
            pc.password = optarg;
            break;

        case 'n':
            pc.db = atoi(optarg);
            break;

        case 'w':
            pc.maxlen = atoi(optarg);
            break;

        case 'H':
            cli_usage(stdout);
            return 0;

        default:
            cli_usage(stderr);
            return 2;
        }
    }

    if (pc.maxlen < 1 || pc.port < 1 || pc.port > 65535) {
        cli_usage(stderr);
        return 2;
    }

    if (optind != argc && optind + 3 != argc) {
        cli_usage(stderr);
        return 2;
    }

    /* the password stays out of ps: the option value is blanked */
    if (pc.password[0]) {
        pc.password = strdup(pc.password);
        for (c = 1; c < argc; c++) {
            if (strcmp(argv[c - 1], "-a") == 0) {
                memset(argv[c], 'x', strlen(argv[c]));
            }
        }
    }

    log_level = LOG_WARN;
    log_ident = "devmon-publish";

    cli_base = event_base_new();
    if (cli_base == NULL || publish_init(cli_base, &pc) != 0) {
        fprintf(stderr, "devmon-publish: initialisation failed\n");
        return 1;
    }

    publish_set_idle(cli_idle, NULL);

    if (optind + 3 == argc) {
        if (cli_submit(argv[optind], argv[optind + 1], argv[optind + 2])
            != 0)
        {
            return 1;
        }

    } else {
        /* "ACCOUNT FIELD JSON" per line; FIELD "-" means no state field */
        line = NULL;
        cap = 0;

        while ((n = getline(&line, &cap, stdin)) > 0) {
            while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
                line[--n] = '\0';
            }

            if (n == 0) {
                continue;
            }

            account = strtok(line, " ");
            field = strtok(NULL, " ");
            json = strtok(NULL, "");

            if (account == NULL || field == NULL || json == NULL) {
                fprintf(stderr, "devmon-publish: line %zu: expected "
                        "ACCOUNT FIELD JSON\n", cli.total + 1);
                return 2;
            }

            if (cli_submit(account, strcmp(field, "-") ? field : "", json)
                != 0)
            {
                return 1;
            }
        }

        free(line);
    }

    if (cli.total > 0) {
        event_base_dispatch(cli_base);
    }

    publish_fini();
    event_base_free(cli_base);

    if (cli.done < cli.total && !cli.failed) {
        fprintf(stderr, "devmon-publish: %zu of %zu events not published\n",
                cli.total - cli.done, cli.total);
        return 1;
    }

    return cli.failed ? 1 : 0;
}


static void
cli_usage(FILE *out)
{
    fprintf(out,
        "usage: devmon-publish [-h host] [-p port] [-s unixsock] "
        "[-a password]\n"
        "                      [-n db] [-w maxlen] ACCOUNT FIELD JSON\n"
        "       devmon-publish [options] < lines of \"ACCOUNT FIELD JSON\"\n"
        "FIELD is the state hash field (\"dev|region|kind\"); \"\" (or \"-\" "
        "on stdin)\nstores no state. Prints \"ID EPOCH\" per event, in "
        "order.\n");
}


static int
cli_submit(char *account, char *field, char *json)
{
    if (json[0] != '{') {
        fprintf(stderr, "devmon-publish: the event must be a JSON object\n");
        return -1;
    }

    cli.total++;

    /* the event goes as given: with "t" if the caller wants one */
    return publish_event(account, field, json, strlen(json), 0, 1, cli_done,
                         NULL);
}


static void
cli_done(void *data, const char *id, const char *epoch, const char *err)
{
    if (err != NULL) {
        if (!cli.failed) {
            fprintf(stderr, "devmon-publish: %s\n", err);
        }
        cli.failed = 1;
        return;
    }

    cli.done++;
    printf("%s %s\n", id, epoch);
}


static void
cli_idle(void *data)
{
    fflush(stdout);
    event_base_loopbreak(cli_base);
}
