#include "common/httperr.h"

#include <errno.h>

unsigned httperr_status(int err)
{
	switch (err) {
	case 0:
		return 200;
	case -EINVAL:
		return 400;
	case -EPERM:
	case -EEXIST:
		return 403;
	case -ENOENT:
		return 404;
	case -EBUSY:
	case -ESTALE:
		return 409;
	case -EFBIG:
	case -E2BIG:
		return 413;
	case -ENAMETOOLONG:
		return 414;
	case -ENOSPC:
		return 507;
	case -ENOTCONN:
	case -ECANCELED:
	case -ETIMEDOUT:
	case -ESHUTDOWN:
	case -EAGAIN:
		return 503;
	default:
		return 500;
	}
}

const char *httperr_reason(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case -EINVAL:
		return "malformed request";
	case -EPERM:
		return "not permitted";
	case -EEXIST:
		return "key exists";
	case -ENOENT:
		return "no such key";
	case -EBUSY:
		return "another write to this key is in flight";
	case -ESTALE:
		return "the key changed meanwhile";
	case -EFBIG:
	case -E2BIG:
		return "too large";
	case -ENAMETOOLONG:
		return "key longer than 511 bytes";
	case -ENOSPC:
		return "no space left";
	case -ENOTCONN:
		return "no leader: retry";
	case -ECANCELED:
		return "the change was lost to a new leader: retry";
	case -ETIMEDOUT:
		return "not decided in time: retry";
	case -ESHUTDOWN:
		return "shutting down: retry";
	case -EAGAIN:
		return "busy: retry";
	case -ENOMEM:
		return "out of memory";
	default:
		return "internal error";
	}
}
