/* The S3 gateway's credentials file: see creds.h. */
#include "s3/creds.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct cred {
	char access_key[S3_CREDS_KEY_MAX + 1];
	char secret[S3_CREDS_KEY_MAX + 1];
	unsigned line;
};

struct s3_creds {
	struct cred *v; /* sorted by access_key */
	unsigned n;
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	       c == '\f';
}

/* Splits line into at most 3 fields (a third means too many). */
static unsigned split(char *line, char *field[3])
{
	unsigned n = 0;
	char *p = line;
	while (n < 3) {
		while (is_blank(*p))
			p++;
		if (!*p)
			break;
		field[n++] = p;
		while (*p && !is_blank(*p))
			p++;
		if (!*p)
			break;
		*p++ = '\0';
	}
	return n;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct cred *)a)->access_key,
		      ((const struct cred *)b)->access_key);
}

static void wipe(struct cred *v, unsigned n)
{
	if (v)
		OPENSSL_cleanse(v, n * sizeof(*v));
	free(v);
}

/* Reads the lines into *v; 0 or a negative errno, logged. */
static int read_lines(const char *path, FILE *f, struct cred **v, unsigned *n)
{
	char buf[S3_CREDS_LINE_MAX + 1];
	unsigned cap = 0, line = 0;
	int rc = 0;
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		size_t len = strlen(buf);
		if (len == sizeof(buf) - 1 && buf[len - 1] != '\n' &&
		    !feof(f)) {
			log_error("%s:%u: line longer than %d bytes", path,
				  line, S3_CREDS_LINE_MAX);
			rc = -EINVAL;
			break;
		}
		char *field[3];
		unsigned nf = split(buf, field);
		if (nf == 0 || field[0][0] == '#')
			continue;
		if (nf != 2) {
			log_error("%s:%u: want \"ACCESS_KEY SECRET_KEY\"", path,
				  line);
			rc = -EINVAL;
			break;
		}
		if (strlen(field[0]) > S3_CREDS_KEY_MAX ||
		    strlen(field[1]) > S3_CREDS_KEY_MAX) {
			log_error("%s:%u: a key is longer than %d bytes", path,
				  line, S3_CREDS_KEY_MAX);
			rc = -EINVAL;
			break;
		}
		if (*n == cap) {
			unsigned ncap = cap ? 2 * cap : 16;
			struct cred *nv =
				ncap < cap ? NULL : calloc(ncap, sizeof(*nv));
			if (!nv) {
				log_error("%s: out of memory", path);
				rc = -ENOMEM;
				break;
			}
			if (*v)
				memcpy(nv, *v, cap * sizeof(*nv));
			wipe(*v, cap);
			*v = nv;
			cap = ncap;
		}
		struct cred *c = &(*v)[(*n)++];
		strcpy(c->access_key, field[0]);
		strcpy(c->secret, field[1]);
		c->line = line;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (!rc && ferror(f)) {
		rc = errno ? -errno : -EIO;
		log_error("%s: %s", path, strerror(-rc));
	}
	return rc;
}

int s3_creds_load(const char *path, struct s3_creds **out)
{
	*out = NULL;
	FILE *f = fopen(path, "re");
	if (!f) {
		int rc = -errno;
		log_error("credentials file %s: %s", path, strerror(-rc));
		return rc;
	}
	struct cred *v = NULL;
	unsigned n = 0;
	errno = 0;
	int rc = read_lines(path, f, &v, &n);
	fclose(f);
	if (!rc && n == 0) {
		log_error("credentials file %s: no credentials in it", path);
		rc = -EINVAL;
	}
	if (!rc) {
		qsort(v, n, sizeof(*v), by_key);
		for (unsigned i = 1; i < n; i++) {
			if (strcmp(v[i - 1].access_key, v[i].access_key) != 0)
				continue;
			unsigned a = v[i - 1].line, b = v[i].line;
			log_error("%s:%u: access key given again (line %u)",
				  path, a > b ? a : b, a < b ? a : b);
			rc = -EINVAL;
			break;
		}
	}
	struct s3_creds *c = rc ? NULL : malloc(sizeof(*c));
	if (!rc && !c) {
		log_error("credentials file %s: out of memory", path);
		rc = -ENOMEM;
	}
	if (rc) {
		wipe(v, n);
		return rc;
	}
	c->v = v;
	c->n = n;
	*out = c;
	return 0;
}

const char *s3_creds_secret(const struct s3_creds *c, const char *access_key)
{
	if (!c || !access_key ||
	    strnlen(access_key, S3_CREDS_KEY_MAX + 1) > S3_CREDS_KEY_MAX)
		return NULL;
	struct cred key = {0};
	strcpy(key.access_key, access_key);
	const struct cred *hit =
		bsearch(&key, c->v, c->n, sizeof(*c->v), by_key);
	return hit ? hit->secret : NULL;
}

unsigned s3_creds_count(const struct s3_creds *c)
{
	return c ? c->n : 0;
}

void s3_creds_free(struct s3_creds *c)
{
	if (!c)
		return;
	wipe(c->v, c->n);
	free(c);
}
