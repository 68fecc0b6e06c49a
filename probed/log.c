/* log: leveled messages to stderr with the syslog "<N>" prefix systemd reads */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>

#include "log.h"


_Atomic int  log_level = LOG_INFO;
const char  *log_ident = "probed";


void
log_msg(int level, const char *fmt, ...)
{
    char     buf[1024];
    int      n;
    va_list  ap;

    if (level > log_level) {
        return;
    }

    /* one write per line so lines from the ICMP threads never interleave */
    n = snprintf(buf, sizeof(buf), "<%d>%s: ", level, log_ident);

    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
    va_end(ap);

    if (n > (int) sizeof(buf) - 2) {
        n = sizeof(buf) - 2;
    }

    buf[n++] = '\n';
    fwrite(buf, 1, n, stderr);
    fflush(stderr);
}
