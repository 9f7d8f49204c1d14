/* The S3 gateway's credentials: a file of access keys and their secrets.
 *
 * One credential a line, "ACCESS_KEY SECRET_KEY", the two separated by
 * spaces or tabs; blank lines and lines whose first non-blank character
 * is '#' are ignored, and a trailing '\r' is taken as blank. Each key is
 * 1 to S3_CREDS_KEY_MAX bytes and a line at most S3_CREDS_LINE_MAX. The
 * file is read whole by s3_creds_load; the result is read-only and may be
 * shared by any number of threads until s3_creds_free. Secrets are wiped
 * from memory when freed and never logged.
 *
 * Errors: s3_creds_load returns 0 or a negative errno and logs one line
 * (common/log.h) naming the file, and the line for a line's error:
 * -EINVAL for a line with other than two fields, a key too long, a line
 * too long, an access key given twice, or a file with no credentials at
 * all; -errno (-ENOENT, -EACCES, -EISDIR...) when the file cannot be
 * read; -ENOMEM. */
#ifndef CASK_S3_CREDS_H
#define CASK_S3_CREDS_H

#define S3_CREDS_KEY_MAX  127  /* bytes of one key, without its NUL */
#define S3_CREDS_LINE_MAX 1024 /* bytes of one line, with its newline */

struct s3_creds;

int s3_creds_load(const char *path, struct s3_creds **out);

/* The secret for access_key, or NULL when unknown (or access_key is
 * NULL). Borrowed: valid until s3_creds_free. */
const char *s3_creds_secret(const struct s3_creds *c, const char *access_key);

/* The number of credentials loaded. */
unsigned s3_creds_count(const struct s3_creds *c);

/* NULL is a no-op. */
void s3_creds_free(struct s3_creds *c);

#endif
