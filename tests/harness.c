#include "tests/harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/httpc.h"

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
	p->argv[n] = NULL;
	return harness_restart(p);
}

int harness_restart(struct harness_proc *p)
{
	int rc = spawn(p);
	if (rc)
		return rc;
	rc = harness_wait_health(p->port, 20000);
	if (rc) {
		int st;
		if (waitpid(p->pid, &st, WNOHANG) == p->pid)
			p->pid = 0;
	}
	return rc;
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

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int http_within(const char *method, const char *url, const void *body,
		       size_t len, const char *const *extra, long timeout_ms,
		       struct harness_resp *r)
{
	pthread_once(&curl_once, curl_init_once);
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
	return http_within(method, url, body, len, extra, 120000L, r);
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
	if (http_within(method, url, body, len, NULL, timeout_ms, &r))
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
