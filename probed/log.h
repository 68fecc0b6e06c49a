/* log: leveled messages to stderr (journald adds the timestamps) */

#ifndef _LOG_H_INCLUDED_
#define _LOG_H_INCLUDED_


#define LOG_ERR     3
#define LOG_WARN    4
#define LOG_INFO    6
#define LOG_DEBUG   7


/* atomic: the ICMP worker threads read it while a reload may set it */
extern _Atomic int  log_level;
extern const char  *log_ident;


void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


#define log_error(...)  log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                        \
    do { if (log_level >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); }       \
    while (0)


#endif /* _LOG_H_INCLUDED_ */
