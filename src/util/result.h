/* Result codes shared by every module: 0 is success, errors are negative (as in libuv). A new
 * code is added at the end (the lowest value), with its phrase in result.c and its HTTP status
 * in http/reply.c (ch_reply_status). */
#ifndef CH_RESULT_H
#define CH_RESULT_H

enum {
    CH_OK = 0,
    CH_ERR = -1,        /* unspecified failure */
    CH_EINVAL = -2,     /* input does not have the expected form */
    CH_ETOOBIG = -3,    /* a ceiling was reached */
    CH_ENOTFOUND = -4,  /* no such object */
    CH_EAUTH = -5,      /* authentication failed */
    CH_ESTORE = -6,     /* the store could not write */
    CH_EEXIST = -7,     /* object already exists */
    CH_ELIMIT = -8,     /* a quota was reached */
    CH_EAGAIN = -9,     /* not decided yet: work was queued, ask again when it is done */
    CH_EDISABLED = -10, /* the object exists but is switched off (an endpoint) */
};

/* On a function whose result must be looked at (a buffer append, a store call): ignoring it is
 * a compile error under -Werror. */
#define CH_NODISCARD __attribute__((warn_unused_result))

/* A short English phrase for rc (a static string), for logs and CLI messages. */
const char *ch_strerror(int rc);

#endif
