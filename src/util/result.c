#include "util/result.h"

const char *ch_strerror(int rc)
{
    switch (rc) {
    case CH_OK:
        return "ok";
    case CH_ERR:
        return "failed";
    case CH_EINVAL:
        return "invalid input";
    case CH_ETOOBIG:
        return "a limit was reached";
    case CH_ENOTFOUND:
        return "not found";
    case CH_EAUTH:
        return "authentication failed";
    case CH_ESTORE:
        return "the store failed";
    case CH_EEXIST:
        return "already exists";
    case CH_ELIMIT:
        return "a quota was reached";
    case CH_EAGAIN:
        return "not decided yet";
    case CH_EDISABLED:
        return "disabled";
    }
    return "unknown result";
}
