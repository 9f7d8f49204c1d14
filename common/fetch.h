/* One HTTP request with a body, answer kept: what the command-line tools
 * need to talk to masters' admin endpoints and volumes' /_/keys.
 *
 * A fresh libcurl handle per call (the tools make few, large requests),
 * no redirects followed, no signals raised: safe on any thread once
 * curl_global_init ran. The answer's body is appended to out->body, which
 * the caller frees with buf_free.
 * Errors: 0 (whatever the status), -EFBIG when the body passed `max`
 * bytes, -ENOMEM, or the transfer's failure as httpc_errno maps it. */
#ifndef CASK_FETCH_H
#define CASK_FETCH_H

#include <stddef.h>

#include "common/buf.h"

struct fetch_resp {
	long code;
	struct buf body;
};

int fetch(const char *method, const char *url, const void *body, size_t len,
	  long timeout_ms, size_t max, struct fetch_resp *out);

#endif
