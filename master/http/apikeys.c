/* The public plane's keys: see apikeys.h. */
#include "master/http/apikeys.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"

#define KEY_MIN 16
#define KEY_MAX 256

struct key {
	size_t len;
	bool write;
	char text[KEY_MAX];
};

struct apikeys {
	size_t n;
	bool private_reads; /* a read key is listed */
	struct key keys[];
};

/* Parses one line into k: 1 for a key, 0 for nothing, -EINVAL. */
static int parse_line(char *line, struct key *k)
{
	char *save, *text = strtok_r(line, " \t\r\n", &save);
	if (!text || text[0] == '#')
		return 0;
	char *perm = strtok_r(NULL, " \t\r\n", &save);
	size_t len = strlen(text);
	if (!perm || strtok_r(NULL, " \t\r\n", &save) || len < KEY_MIN ||
	    len > KEY_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (text[i] < 0x21 || text[i] > 0x7e)
			return -EINVAL;
	if (strcmp(perm, "write") == 0)
		k->write = true;
	else if (strcmp(perm, "read") == 0)
		k->write = false;
	else
		return -EINVAL;
	k->len = len;
	memcpy(k->text, text, len);
	return 1;
}

int apikeys_load(const char *path, struct apikeys **out)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int err = errno;
		log_error("-api-keys %s: %s", path, strerror(err));
		return err == ENOENT || err == EACCES ? -err : -EIO;
	}
	struct stat st;
	if (fstat(fileno(f), &st) || (st.st_mode & (S_IROTH | S_IWOTH))) {
		log_error("-api-keys %s is readable by others: chmod 600 it",
			  path);
		fclose(f);
		return -EPERM;
	}
	struct apikeys *k = calloc(1, sizeof(*k) + sizeof(struct key));
	int rc = k ? 0 : -ENOMEM;
	char line[1024];
	for (unsigned no = 1; !rc && fgets(line, sizeof(line), f); no++) {
		struct key one = {0};
		int got = parse_line(line, &one);
		if (got < 0 || k->n == APIKEYS_MAX) {
			log_error("-api-keys %s:%u: want \"KEY read|write\", a "
				  "key of 16 to 256 printable bytes, at most "
				  "%d keys",
				  path, no, APIKEYS_MAX);
			rc = -EINVAL;
		} else if (got) {
			struct apikeys *g = realloc(
				k,
				sizeof(*k) + (k->n + 1) * sizeof(struct key));
			if (!g) {
				rc = -ENOMEM;
				break;
			}
			k = g;
			k->keys[k->n++] = one;
			k->private_reads |= !one.write;
		}
		OPENSSL_cleanse(line, sizeof(line));
	}
	fclose(f);
	if (!rc && !k->n) {
		log_error("-api-keys %s names no key", path);
		rc = -EINVAL;
	}
	if (rc) {
		apikeys_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

void apikeys_free(struct apikeys *k)
{
	if (k)
		OPENSSL_cleanse(k->keys, k->n * sizeof(struct key));
	free(k);
}

int apikeys_check(const struct apikeys *k, bool write,
		  const char *authorization, const char **why)
{
	if (!write && !k->private_reads)
		return 0;
	const char *given = NULL;
	if (authorization && strncmp(authorization, "Bearer ", 7) == 0)
		given = authorization + 7;
	if (!given) {
		*why = write ? "writes need Authorization: Bearer KEY"
			     : "reads need Authorization: Bearer KEY";
		return -EACCES;
	}
	size_t len = strlen(given);
	const struct key *match = NULL;
	/* Every key is compared, so the time says nothing of which. */
	for (size_t i = 0; i < k->n; i++)
		if (k->keys[i].len == len &&
		    CRYPTO_memcmp(k->keys[i].text, given, len) == 0)
			match = &k->keys[i];
	if (!match) {
		*why = "unknown API key";
		return -EACCES;
	}
	if (write && !match->write) {
		*why = "this API key may only read";
		return -EPERM;
	}
	return 0;
}
