#include "tests/harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/httpc.h"
#include "common/sign.h"

#define MAX_TMPDIRS 32

static char *tmpdirs[MAX_TMPDIRS];
static int ntmpdirs;
static pid_t owner_pid;

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void harness_rmtree(const char *path)
{
	nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

static void remove_tmpdirs(void)
{
	/* check forks a child per test: only the creator cleans up. */
	if (getpid() != owner_pid)
		return;
	for (int i = 0; i < ntmpdirs; i++) {
		harness_rmtree(tmpdirs[i]);
		free(tmpdirs[i]);
	}
	ntmpdirs = 0;
}

const char *harness_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char path[512];
	snprintf(path, sizeof(path), "%s/cask-%s-XXXXXX", base ? base : "/tmp",
		 tag);
	if (!mkdtemp(path) || ntmpdirs >= MAX_TMPDIRS) {
		perror("mkdtemp");
		abort();
	}
	if (owner_pid != getpid()) {
		owner_pid = getpid();
		ntmpdirs = 0;
		atexit(remove_tmpdirs);
	}
	tmpdirs[ntmpdirs] = strdup(path);
	return tmpdirs[ntmpdirs++];
}

int harness_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	return ntohs(a.sin_port);
}

static int spawn(struct harness_proc *p)
{
	char path[512];
	const char *dir = getenv("CASK_BIN");
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", p->bin);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		p->argv[0] = path;
		execv(path, p->argv);
		_exit(127);
	}
	p->pid = pid;
	return 0;
}

static pthread_once_t secret_once = PTHREAD_ONCE_INIT;
static char secret_path[600];

/* A fresh secret for this test process's cluster, and this process's
 * signatures made with it. */
static void secret_init(void)
{
	snprintf(secret_path, sizeof(secret_path), "%s/secret",
		 harness_tmpdir("secret"));
	unsigned char raw[24];
	char text[2 * sizeof(raw) + 2];
	harness_fill(raw, sizeof(raw), (unsigned long long)clock_wall_ns());
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(text + 2 * i, 3, "%02x", raw[i]);
	strcat(text, "\n");
	int fd = open(secret_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    close(fd) || sign_init(secret_path)) {
		perror("harness: the cluster secret");
		abort();
	}
}

const char *harness_secret(void)
{
	pthread_once(&secret_once, secret_init);
	return secret_path;
}

/* The daemons take the cluster secret; a test that wants a daemon
 * without one passes -secret-file itself (an empty value). */
static bool takes_secret(const char *bin, const char *const args[])
{
	if (strcmp(bin, "cask-master") != 0 && strcmp(bin, "cask-volume") != 0)
		return false;
	for (int i = 0; args[i]; i++)
		if (strcmp(args[i], "-secret-file") == 0)
			return false;
	return true;
}

int harness_start(struct harness_proc *p, const char *bin, int port,
		  const char *const args[], const char *log)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->bin, sizeof(p->bin), "%s", bin);
	snprintf(p->log, sizeof(p->log), "%s", log);
	p->port = port;
	int n = 1;
	size_t used = 0;
	for (int i = 0; args[i] && n < 47; i++) {
		size_t len = strlen(args[i]) + 1;
		if (used + len > sizeof(p->argbuf))
			return -E2BIG;
		p->argv[n++] = memcpy(p->argbuf + used, args[i], len);
		used += len;
	}
	if (takes_secret(bin, args)) {
		const char *extra[] = {"-secret-file", harness_secret()};
		for (int i = 0; i < 2 && n < 47; i++) {
			size_t len = strlen(extra[i]) + 1;
			if (used + len > sizeof(p->argbuf))
				return -E2BIG;
			p->argv[n++] = memcpy(p->argbuf + used, extra[i], len);
			used += len;
		}
	}
	p->argv[n] = NULL;
	return harness_restart(p);
}

int harness_restart(struct harness_proc *p)
{
	int rc = spawn(p);
	if (rc)
		return rc;
	/* Healthy within 20 s, unless it exits first (a refused flag). */
	for (int i = 0; i < 400; i++) {
		int st;
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			return -ECHILD;
		}
		if (harness_wait_health(p->port, 50) == 0)
			return 0;
	}
	return -ETIMEDOUT;
}

int harness_wait_health(int port, int timeout_ms)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_/health", port);
	long long end = (long long)clock_mono_ms() + timeout_ms;
	while ((long long)clock_mono_ms() < end) {
		struct harness_resp r;
		if (harness_http("GET", url, NULL, 0, NULL, &r) == 0) {
			long code = r.code;
			harness_resp_free(&r);
			if (code == 200)
				return 0;
		}
		struct timespec d = {0, 10 * 1000000};
		nanosleep(&d, NULL);
	}
	return -ETIMEDOUT;
}

int harness_signal(struct harness_proc *p, int sig)
{
	if (p->pid <= 0)
		return -ESRCH;
	kill(p->pid, sig);
	if (sig != SIGKILL && sig != SIGTERM)
		return 0;
	int st = 0;
	long long end = (long long)clock_mono_ms() + 30000;
	for (;;) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid)
			break;
		if ((long long)clock_mono_ms() > end) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			p->pid = 0;
			return -ETIMEDOUT;
		}
		struct timespec d = {0, 5 * 1000000};
		nanosleep(&d, NULL);
	}
	p->pid = 0;
	return st;
}

void harness_stop(struct harness_proc *p)
{
	if (p->pid > 0)
		harness_signal(p, SIGTERM);
}

int harness_stop_clean(struct harness_proc *p)
{
	int st = harness_signal(p, SIGTERM);
	if (st == 0)
		return 0;
	fprintf(stderr, "harness: %s exited with status %d; its log:\n", p->bin,
		st);
	FILE *f = fopen(p->log, "r");
	char chunk[4096];
	size_t n;
	while (f && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, stderr);
	if (f)
		fclose(f);
	return st;
}

struct source {
	const char *data;
	size_t len;
	size_t off;
};

static size_t source_read(char *ptr, size_t size, size_t n, void *arg)
{
	struct source *s = arg;
	size_t want = size * n;
	if (want > s->len - s->off)
		want = s->len - s->off;
	memcpy(ptr, s->data + s->off, want);
	s->off += want;
	return want;
}

pid_t harness_spawn_tool(const char *tool, const char *const *args,
			 const char *out)
{
	char path[512];
	const char *dir = getenv("CASK_BIN");
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", tool);
	char *argv[48] = {path};
	int n = 1;
	for (; args[n - 1] && n < 44; n++)
		argv[n] = (char *)args[n - 1];
	bool named = false;
	for (int i = 1; i < n; i++)
		named |= strcmp(argv[i], "-secret-file") == 0;
	if (strcmp(tool, "cask-thrasher") != 0 && !named) {
		argv[n++] = "-secret-file";
		argv[n++] = (char *)harness_secret();
	}
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(127);
	execv(path, argv);
	_exit(127);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int http_within(const char *method, const char *url, const void *body,
		       size_t len, const char *const *extra, long timeout_ms,
		       bool sign, struct harness_resp *r)
{
	pthread_once(&curl_once, curl_init_once);
	if (sign)
		harness_secret();
	memset(r, 0, sizeof(*r));
	CURL *c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	struct buf b = {0}, h = {0};
	struct httpc_sink bs = {&b, SIZE_MAX, false},
			  hs = {&h, SIZE_MAX, false};
	struct source src = {body, len, 0};
	struct curl_slist *hdrs = NULL;
	for (int i = 0; extra && extra[i]; i++)
		hdrs = curl_slist_append(hdrs, extra[i]);
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (sign && httpc_sign(&hdrs, method, url, body ? len : 0))
		abort();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, httpc_keep);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &bs);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, httpc_keep);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, source_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &src);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK || r->code == 0) {
		buf_free(&b);
		buf_free(&h);
		return -EIO;
	}
	r->len = b.len;
	r->body = buf_steal(&b);
	r->headers = buf_steal(&h);
	return 0;
}

int harness_http(const char *method, const char *url, const void *body,
		 size_t len, const char *const *extra, struct harness_resp *r)
{
	return http_within(method, url, body, len, extra, 120000L, true, r);
}

int harness_http_unsigned(const char *method, const char *url, const void *body,
			  size_t len, const char *const *extra,
			  struct harness_resp *r)
{
	return http_within(method, url, body, len, extra, 120000L, false, r);
}

long harness_request(const char *method, const char *url, const void *body,
		     size_t len, struct harness_resp *out)
{
	return harness_request_ms(method, url, body, len, 120000L, out);
}

long harness_request_ms(const char *method, const char *url, const void *body,
			size_t len, long timeout_ms, struct harness_resp *out)
{
	struct harness_resp r;
	if (http_within(method, url, body, len, NULL, timeout_ms, true, &r))
		return -1;
	return harness_resp_give(&r, out);
}

long harness_resp_give(struct harness_resp *r, struct harness_resp *out)
{
	long code = r->code;
	if (out)
		*out = *r;
	else
		harness_resp_free(r);
	return code;
}

int harness_header(const struct harness_resp *r, const char *name, char *out,
		   size_t cap)
{
	size_t nl = strlen(name);
	for (const char *l = r->headers; l && *l;) {
		const char *end = strchr(l, '\n');
		if (!end)
			end = l + strlen(l);
		if ((size_t)(end - l) > nl && strncasecmp(l, name, nl) == 0 &&
		    l[nl] == ':') {
			const char *v = l + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(end - v);
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 0;
		}
		l = *end ? end + 1 : end;
	}
	return -ENOENT;
}

void harness_resp_free(struct harness_resp *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

/* The value for the text sign.h spells, digest (hex) included when not
 * NULL. */
static void sign_spec(const char *secret, const char *method,
		      const char *target, uint64_t ms, const char *nonce,
		      const char *length, const char *digest,
		      char out[SIGN_VALUE_MAX])
{
	const char *host = strstr(target, "://");
	const char *path = host ? strchr(host + 3, '/') : NULL;
	if (!path)
		abort();
	host += 3;
	char text[8192];
	int n = snprintf(text, sizeof(text),
			 "cask-v2\n%s\n%.*s\n%s\n%" PRIu64 "\n%s\n%s\n%s%s",
			 method, (int)(path - host), host, path, ms, nonce,
			 length, digest ? digest : "", digest ? "\n" : "");
	unsigned char mac[32];
	unsigned len = 0;
	if (n < 0 || (size_t)n >= sizeof(text) ||
	    !HMAC(EVP_sha256(), secret, (int)strlen(secret),
		  (unsigned char *)text, (size_t)n, mac, &len) ||
	    len != sizeof(mac))
		abort();
	n = snprintf(out, SIGN_VALUE_MAX, "%" PRIu64 " %s ", ms, nonce);
	for (size_t i = 0; i < sizeof(mac); i++)
		n += snprintf(out + n, SIGN_VALUE_MAX - (size_t)n, "%02x",
			      mac[i]);
	if (digest)
		snprintf(out + n, SIGN_VALUE_MAX - (size_t)n, " %s", digest);
}

void harness_sign_as(const char *secret, const char *method, const char *target,
		     uint64_t ms, const char *nonce, const char *length,
		     char out[SIGN_VALUE_MAX])
{
	sign_spec(secret, method, target, ms, nonce, length, NULL, out);
}

void harness_sign_digest(const char *secret, const char *method,
			 const char *target, uint64_t ms, const char *nonce,
			 const void *body, size_t len, char out[SIGN_VALUE_MAX])
{
	unsigned char sha[32];
	unsigned n = 0;
	if (!EVP_Digest(body, len, sha, &n, EVP_sha256(), NULL) ||
	    n != sizeof(sha))
		abort();
	char hex[65], length[24];
	for (size_t i = 0; i < sizeof(sha); i++)
		snprintf(hex + 2 * i, 3, "%02x", sha[i]);
	snprintf(length, sizeof(length), "%zu", len);
	sign_spec(secret, method, target, ms, nonce, length, hex, out);
}

size_t harness_sign_raw(const char *req, size_t len, char *out, size_t cap)
{
	harness_secret();
	const char *eol = memmem(req, len, "\r\n", 2);
	const char *sp1 = eol ? memchr(req, ' ', (size_t)(eol - req)) : NULL;
	const char *sp2 =
		sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	const char *end = memmem(req, len, "\r\n\r\n", 4);
	char method[32], target[4096], value[SIGN_VALUE_MAX], host[256] = "";
	uint64_t length = 0;
	int seen_length = 0;
	if (sp2 && end && (size_t)(sp1 - req) < sizeof(method) &&
	    (size_t)(sp2 - sp1 - 1) < sizeof(target)) {
		snprintf(method, sizeof(method), "%.*s", (int)(sp1 - req), req);
		for (const char *l = eol + 2; l < end;) {
			const char *le =
				memmem(l, (size_t)(end + 2 - l), "\r\n", 2);
			if (strncasecmp(l, "Host:", 5) == 0) {
				const char *v = l + 5 + strspn(l + 5, " ");
				snprintf(host, sizeof(host), "%.*s",
					 (int)(le - v), v);
			}
			/* The first, as the daemons' header lookup takes. */
			if (strncasecmp(l, "Content-Length:", 15) == 0 &&
			    !seen_length++)
				length = strtoull(l + 15, NULL, 10);
			else if (strncasecmp(l, "Transfer-Encoding:", 18) ==
					 0 &&
				 length == 0)
				length = SIGN_CHUNKED;
			l = le + 2;
		}
		/* The URL it was sent to, as the daemon sees it: its Host
		 * (none is the empty authority) and the line's target. */
		snprintf(target, sizeof(target), "http://%s%.*s", host,
			 (int)(sp2 - sp1 - 1), sp1 + 1);
	}
	size_t head = eol ? (size_t)(eol - req) + 2 : 0;
	int n = 0;
	if (head && end && !sign_request(method, target, length, value))
		n = snprintf(out, cap, "%.*s" SIGN_HEADER ": %s\r\n", (int)head,
			     req, value);
	else
		head = 0;
	if (n < 0 || (size_t)n + len - head > cap)
		abort();
	memcpy(out + n, req + head, len - head);
	return (size_t)n + len - head;
}

int harness_raw(int port, const void *req, size_t len, int timeout_ms,
		char *answer, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0)
		return -EIO;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -EIO;
	}
	const char *p = req;
	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		p += w;
		len -= (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	size_t got = 0;
	long long end = (long long)clock_mono_ms() + timeout_ms;
	while (got + 1 < cap) {
		struct pollfd pfd = {fd, POLLIN, 0};
		long long left = end - (long long)clock_mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t n = recv(fd, answer + got, cap - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	answer[got] = '\0';
	close(fd);
	int code;
	if (sscanf(answer, "HTTP/1.%*d %d", &code) != 1)
		return -EIO;
	return code;
}

int harness_text_line(const char *answer, const char *why)
{
	const char *body = strstr(answer, "\r\n\r\n");
	if (!strcasestr(answer, "\r\nContent-Type: text/plain") || !body)
		return -EBADMSG;
	body += 4;
	const char *nl = strchr(body, '\n');
	return strncmp(body, why, strlen(why)) == 0 && nl && nl[1] == '\0'
		       ? 0
		       : -EBADMSG;
}

int harness_parser_refusals(int port, bool sign, char *err, size_t cap)
{
	/* Past the daemons' 64 KiB connection memory, short enough that the
	 * daemon reads all of it before it answers (no reset). */
	static char big[80 * 1024];
	int hl = snprintf(big, sizeof(big),
			  "GET /k HTTP/1.1\r\nHost: x\r\n"
			  "X-Big: ");
	memset(big + hl, 'a', sizeof(big) - (size_t)hl - 5);
	strcpy(big + sizeof(big) - 5, "\r\n\r\n");
	const struct {
		const char *req;
		int code;
		const char *why;
		/* libmicrohttpd 0.9.75 sends the head of its answer to a bad
		 * Content-Length twice (its bug, with or without our
		 * wrapper): the line is after the second. */
		bool head_twice;
	} cases[] = {
		{"GET /k HTTP/2.0\r\nHost: x\r\n\r\n", 505,
		 "HTTP version not supported", false},
		{"GET /k HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400,
		 "malformed request", false},
		{"PUT /k HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
		 400, "Content-Length is not a number", true},
		{"PUT /k HTTP/1.1\r\nHost: x\r\n"
		 "Content-Length: 99999999999999999999999\r\n\r\n",
		 413, "Content-Length too large", true},
		{"PUT /k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
		 "\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
		 400, "malformed chunked encoding", false},
		{big, 431, "request headers too large", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		size_t len = strlen(cases[i].req), sc = len + 512;
		char *req = malloc(sc), ans[4096];
		if (!req)
			return -ENOMEM;
		if (sign)
			len = harness_sign_raw(cases[i].req, len, req, sc);
		else
			memcpy(req, cases[i].req, len);
		int code = harness_raw(port, req, len, 5000, ans, sizeof(ans));
		free(req);
		const char *at = ans, *twice = strstr(ans, "\r\n\r\nHTTP/1.1 ");
		if (cases[i].head_twice && twice)
			at = twice + 4;
		if (code != cases[i].code ||
		    harness_text_line(at, cases[i].why) != 0) {
			snprintf(err, cap, "%.40s...: wanted %d %s, got: %s",
				 cases[i].req, cases[i].code, cases[i].why,
				 ans);
			return -EBADMSG;
		}
	}
	return 0;
}

void harness_fill(void *buf, size_t len, unsigned long long seed)
{
	unsigned long long x = seed * 0x9e3779b97f4a7c15ull + 1;
	unsigned char *p = buf;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
}

bool harness_chunk_send(int fd, const void *data, size_t len)
{
	char size[32];
	int n = snprintf(size, sizeof(size), "%zx\r\n", len);
	struct iovec iov[3] = {
		{size, (size_t)n}, {(void *)data, len}, {"\r\n", 2}};
	size_t want = (size_t)n + len + 2;
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};
	while (want) {
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		want -= (size_t)w;
		while (m.msg_iovlen && (size_t)w >= m.msg_iov->iov_len) {
			w -= (ssize_t)m.msg_iov->iov_len;
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (m.msg_iovlen) {
			m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + w;
			m.msg_iov->iov_len -= (size_t)w;
		}
	}
	return true;
}

int harness_read_answer(int fd, char *ans, size_t cap, int timeout_ms)
{
	size_t got = 0;
	ans[0] = '\0';
	long long end = (long long)clock_mono_ms() + timeout_ms;
	while (got + 1 < cap) {
		struct pollfd pfd = {fd, POLLIN, 0};
		long long left = end - (long long)clock_mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		ssize_t n = recv(fd, ans + got, cap - 1 - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
		ans[got] = '\0';
		const char *head = strstr(ans, "\r\n\r\n");
		const char *cl = strcasestr(ans, "\r\nContent-Length:");
		if (head && cl &&
		    got >= (size_t)(head + 4 - ans) +
				    strtoul(cl + 17, NULL, 10))
			return atoi(ans + 9);
	}
	return -1;
}

int harness_chunked_end(int fd, char *ans, size_t cap)
{
	ans[0] = '\0';
	if (send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL) != 5)
		return -1;
	return harness_read_answer(fd, ans, cap, 120000);
}
