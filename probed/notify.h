/* notify: systemd's sd_notify protocol without libsystemd */

#ifndef _NOTIFY_H_INCLUDED_
#define _NOTIFY_H_INCLUDED_


int notify_send(const char *state);


#endif /* _NOTIFY_H_INCLUDED_ */
