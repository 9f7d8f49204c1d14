#include "master/write/keylock.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"

#define NBUCKETS 1024

struct held {
	struct held *next;
	enum keylock_owner owner;
	size_t len;
	char key[];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t released = PTHREAD_COND_INITIALIZER;
static struct held *buckets[NBUCKETS];

static size_t bucket_of(const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
	return (size_t)(h % NBUCKETS);
}

static struct held *find(size_t b, const char *key, size_t keylen)
{
	for (struct held *h = buckets[b]; h; h = h->next)
		if (h->len == keylen && memcmp(h->key, key, keylen) == 0)
			return h;
	return NULL;
}

int keylock_try(const char *key, size_t keylen, enum keylock_owner owner)
{
	size_t b = bucket_of(key, keylen);
	struct held *n = malloc(sizeof(*n) + keylen);
	if (!n)
		return -ENOMEM;
	n->owner = owner;
	n->len = keylen;
	memcpy(n->key, key, keylen);
	struct timespec until = clock_deadline_ms(KEYLOCK_PURGE_WAIT_MS);
	pthread_mutex_lock(&mu);
	struct held *h;
	while ((h = find(b, key, keylen)) && h->owner == KEYLOCK_PURGE &&
	       owner == KEYLOCK_CLIENT &&
	       pthread_cond_timedwait(&released, &mu, &until) == 0)
		;
	if (find(b, key, keylen)) {
		pthread_mutex_unlock(&mu);
		free(n);
		return -EBUSY;
	}
	n->next = buckets[b];
	buckets[b] = n;
	pthread_mutex_unlock(&mu);
	return 0;
}

void keylock_release(const char *key, size_t keylen)
{
	size_t b = bucket_of(key, keylen);
	struct held *gone = NULL;
	pthread_mutex_lock(&mu);
	for (struct held **p = &buckets[b]; *p; p = &(*p)->next)
		if ((*p)->len == keylen &&
		    memcmp((*p)->key, key, keylen) == 0) {
			gone = *p;
			*p = gone->next;
			break;
		}
	/* Only the holder releases, once. */
	assert(gone);
	if (gone->owner == KEYLOCK_PURGE)
		pthread_cond_broadcast(&released);
	pthread_mutex_unlock(&mu);
	free(gone);
}
