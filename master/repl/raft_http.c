#include "master/repl/raft_http.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpd.h"
#include "master/repl/transport.h"

/* POST /_/raft/members. */

#define BODY_MAX 512

struct members_req {
	struct MHD_Connection *c;
	char body[BODY_MAX + 1];
	size_t len;
	bool too_long, started;
	atomic_bool finished;
	int result;
};

static void changed(void *arg, int result)
{
	struct members_req *m = arg;
	m->result = result;
	atomic_store(&m->finished, true);
	MHD_resume_connection(m->c);
}

/* "add ID URL" or "remove ID". Returns 0 or -EINVAL. */
static int parse(char *s, enum node_member_op *op, uint64_t *id, char **url)
{
	char *save, *verb = strtok_r(s, " \t\r\n", &save);
	char *num = strtok_r(NULL, " \t\r\n", &save);
	*url = strtok_r(NULL, " \t\r\n", &save);
	if (!verb || !num || strtok_r(NULL, " \t\r\n", &save))
		return -EINVAL;
	char *end;
	errno = 0;
	*id = strtoull(num, &end, 10);
	if (*end || errno || !*id)
		return -EINVAL;
	if (strcmp(verb, "add") == 0 && *url) {
		*op = NODE_MEMBER_ADD;
		return 0;
	}
	if (strcmp(verb, "remove") == 0 && !*url) {
		*op = NODE_MEMBER_REMOVE;
		return 0;
	}
	return -EINVAL;
}

static enum MHD_Result answer(struct members_req *m)
{
	const char *why;
	switch (m->result) {
	case 0:
		return http_reply_text(m->c, 200, "ok");
	case -EINVAL:
		why = "bad member id or URL";
		break;
	case -ETIMEDOUT:
		why = "the change did not complete in time: retry";
		break;
	case -EBUSY:
		why = "another membership change is running";
		break;
	case -EEXIST:
		return http_reply_text(m->c, 409,
				       "that id is a member at another URL: "
				       "remove it first");
	default:
		why = "not the leader any more: retry";
		break;
	}
	return http_reply_errno(m->c, m->result, why, NULL);
}

static enum MHD_Result start(struct node *n, struct members_req *m)
{
	if (m->too_long)
		return http_reply_text(m->c, 413, "body over 512 bytes");
	m->body[m->len] = '\0';
	enum node_member_op op;
	uint64_t id;
	char *url;
	if (parse(m->body, &op, &id, &url))
		return http_reply_text(m->c, 400,
				       "body must be 'add ID URL' or "
				       "'remove ID'");
	char leader[TRANSPORT_URL_MAX];
	int rc = node_leader_url(n, leader, sizeof(leader));
	if (rc == -ENOENT)
		return http_reply_text(m->c, 503, "no leader: retry");
	if (rc == 0)
		return http_reply_to_leader(m->c, leader, "/_/raft/members",
					    NULL);
	m->started = true;
	MHD_suspend_connection(m->c);
	node_member_change(n, op, id, url, changed, m);
	return MHD_YES;
}

static enum MHD_Result members(struct node *n, struct MHD_Connection *c,
			       const char *method, const char *upload,
			       size_t *upload_size, void **state)
{
	struct members_req *m = *state;
	if (!m) {
		if (strcmp(method, "POST") != 0)
			return http_reply_text(c, 405, "POST a change");
		m = calloc(1, sizeof(*m));
		if (!m)
			return MHD_NO;
		m->c = c;
		*state = m;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t take = *upload_size;
		if (take > BODY_MAX - m->len) {
			m->too_long = true;
			take = BODY_MAX - m->len;
		}
		memcpy(m->body + m->len, upload, take);
		m->len += take;
		*upload_size = 0;
		return MHD_YES;
	}
	if (atomic_load(&m->finished))
		return answer(m);
	if (m->started)
		return MHD_YES;
	return start(n, m);
}

/* The router. */

struct http_state {
	bool members;
	void *inner;
};

enum MHD_Result raft_http(struct node *n, struct MHD_Connection *c,
			  const char *url, const char *method,
			  const char *upload, size_t *upload_size, void **state)
{
	assert(n && c && url && method && upload_size && state);
	struct http_state *s = *state;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return MHD_NO;
		s->members = strcmp(url, "/_/raft/members") == 0;
		*state = s;
	}
	if (s->members)
		return members(n, c, method, upload, upload_size, &s->inner);
	return transport_http(node_transport(n), c, url, method, upload,
			      upload_size, &s->inner);
}

void raft_http_done(void *state)
{
	struct http_state *s = state;
	if (!s)
		return;
	if (s->members)
		free(s->inner);
	else
		transport_http_done(s->inner);
	free(s);
}
