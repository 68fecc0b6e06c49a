/* notify: systemd's sd_notify protocol without libsystemd */

#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "log.h"
#include "notify.h"


/*
 * One datagram with the state ("READY=1") to the unix socket named by
 * $NOTIFY_SOCKET; a leading '@' names an abstract socket.  Without the
 * variable (not started by systemd) this does nothing.
 */

int
notify_send(const char *state)
{
    int                  fd, rc;
    size_t               len;
    const char          *path;
    socklen_t            salen;
    struct sockaddr_un   sa;

    path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0') {
        return 0;
    }

    len = strlen(path);
    if (len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@')) {
        log_warn("NOTIFY_SOCKET \"%s\" is not usable", path);
        return -1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);

    if (path[0] == '@') {
        sa.sun_path[0] = '\0';
    }

    salen = offsetof(struct sockaddr_un, sun_path) + len;

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -1;
    }

    rc = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                (struct sockaddr *) &sa, salen);
    close(fd);

    if (rc < 0) {
        log_warn("sd_notify \"%s\" failed", state);
        return -1;
    }

    return 0;
}
