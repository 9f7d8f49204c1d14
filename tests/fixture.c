#include "tests/fixture.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Copies the NULL-terminated args into f, for every later master. */
static int keep_master_args(struct fixture *f, const char *const *args)
{
	size_t used = 0;
	int n = 0;
	for (; args && args[n]; n++) {
		size_t len = strlen(args[n]) + 1;
		if (n + 1 >= (int)(sizeof(f->margv) / sizeof(f->margv[0])) ||
		    used + len > sizeof(f->margbuf))
			return -E2BIG;
		f->margv[n] = memcpy(f->margbuf + used, args[n], len);
		used += len;
	}
	f->margv[n] = NULL;
	return 0;
}

int fixture_start(struct fixture *f, const struct fixture_opts *o)
{
	memset(f, 0, sizeof(*f));
	if (o->volumes > FIXTURE_MAX_VOLUMES ||
	    o->masters > FIXTURE_MAX_MASTERS)
		return -EINVAL;
	f->dir = harness_tmpdir(o->tag);
	f->replicated = o->replicated;
	snprintf(f->volume_list, sizeof(f->volume_list), "%s",
		 o->volume_list ? o->volume_list : "");
	snprintf(f->check_interval, sizeof(f->check_interval), "%s",
		 o->check_interval ? o->check_interval : "");
	int rc = keep_master_args(f, o->master_args);
	if (rc)
		return rc;
	f->vargv = o->volume_args;
	size_t n = 0;
	for (int i = 0; i < FIXTURE_MAX_MASTERS; i++) {
		f->mport[i] = harness_free_port();
		if (f->mport[i] < 0)
			return f->mport[i];
		snprintf(f->murl[i], sizeof(f->murl[i]), "http://127.0.0.1:%d",
			 f->mport[i]);
		if (i < o->masters)
			n += (size_t)snprintf(f->peers + n,
					      sizeof(f->peers) - n, "%s%d=%s",
					      i ? "," : "", i + 1, f->murl[i]);
	}
	for (int i = 0; i < o->volumes; i++)
		if ((rc = fixture_start_volume(f, i)))
			return rc;
	for (int i = 0; i < o->masters; i++)
		if ((rc = fixture_start_master(f, i, NULL, NULL)))
			return rc;
	return 0;
}

int fixture_start_volume(struct fixture *f, int i)
{
	if (i < 0 || i >= FIXTURE_MAX_VOLUMES)
		return -EINVAL;
	char dir[512], log[512], port[16];
	snprintf(dir, sizeof(dir), "%s/v%d", f->dir, i);
	snprintf(log, sizeof(log), "%s/v%d.log", f->dir, i);
	/* Not a port kept for a master that is not running yet: a GET meant
	 * for the master would reach the volume. */
	int p;
	for (bool taken = true; taken;) {
		p = harness_free_port();
		if (p < 0)
			return p;
		taken = false;
		for (int k = 0; k < FIXTURE_MAX_MASTERS; k++)
			taken |= f->mport[k] == p;
	}
	snprintf(port, sizeof(port), "%d", p);
	const char *args[32] = {"-port", port,	  "-dir",
				dir,	 "-bind", "127.0.0.1"};
	for (int k = 0; f->vargv && f->vargv[k] && k < 24; k++)
		args[6 + k] = f->vargv[k];
	int rc = harness_start(&f->vol[i], "cask-volume", p, args, log);
	if (rc)
		return rc;
	snprintf(f->vaddr[i], sizeof(f->vaddr[i]), "127.0.0.1:%d", p);
	if (i >= f->nvol)
		f->nvol = i + 1;
	size_t n = 0;
	f->volumes[0] = '\0';
	for (int k = 0; k < f->nvol; k++)
		if (f->vaddr[k][0])
			n += (size_t)snprintf(f->volumes + n,
					      sizeof(f->volumes) - n, "%s%s",
					      n ? "," : "", f->vaddr[k]);
	return 0;
}

int fixture_start_master(struct fixture *f, int i, const char *join,
			 const char *const *extra)
{
	if (i < 0 || i >= FIXTURE_MAX_MASTERS)
		return -EINVAL;
	char id[16], port[16], db[512], log[512];
	snprintf(id, sizeof(id), "%d", i + 1);
	snprintf(port, sizeof(port), "%d", f->mport[i]);
	snprintf(db, sizeof(db), "%s/m%d", f->dir, i + 1);
	snprintf(log, sizeof(log), "%s/m%d.log", f->dir, i + 1);
	const char *args[48] = {
		"-port",    port,
		"-bind",    "127.0.0.1",
		"-db",	    db,
		"-volumes", f->volume_list[0] ? f->volume_list : f->volumes};
	int n = 8;
	if (f->check_interval[0]) {
		args[n++] = "-check-interval";
		args[n++] = f->check_interval;
	}
	if (f->replicated) {
		args[n++] = "-id";
		args[n++] = id;
		args[n++] = join ? "-join" : "-peers";
		args[n++] = join ? join : f->peers;
	}
	for (int k = 0; f->margv[k]; k++)
		args[n++] = f->margv[k];
	for (int k = 0; extra && extra[k]; k++) {
		if (n + 1 >= (int)(sizeof(args) / sizeof(args[0])))
			return -E2BIG;
		args[n++] = extra[k];
	}
	args[n] = NULL;
	int rc = harness_start(&f->master[i], "cask-master", f->mport[i], args,
			       log);
	if (rc)
		return rc;
	if (i >= f->nmaster)
		f->nmaster = i + 1;
	return 0;
}

int fixture_stop(struct fixture *f)
{
	int first = 0;
	for (int i = 0; i < f->nmaster; i++) {
		if (f->master[i].pid <= 0)
			continue;
		harness_signal(&f->master[i], SIGCONT);
		int st = harness_stop_clean(&f->master[i]);
		if (st && !first)
			first = st;
	}
	for (int i = 0; i < f->nvol; i++)
		harness_stop(&f->vol[i]);
	return first;
}

/* Polls master i's /_/status until its body has `needle` and, when
 * `absent` is not NULL, lacks `absent`. */
static int wait_status(const struct fixture *f, int i, const char *needle,
		       const char *absent, unsigned timeout_ms)
{
	char url[64];
	snprintf(url, sizeof(url), "%s/_/status", f->murl[i]);
	for (unsigned waited = 0; waited <= timeout_ms; waited += 50) {
		struct harness_resp r = {0};
		bool seen = harness_request("GET", url, NULL, 0, &r) == 200 &&
			    strstr(r.body, needle) != NULL &&
			    (!absent || !strstr(r.body, absent));
		harness_resp_free(&r);
		if (seen)
			return 0;
		struct timespec d = {0, 50 * 1000000};
		nanosleep(&d, NULL);
	}
	return -ETIMEDOUT;
}

int fixture_wait_status(const struct fixture *f, int i, const char *needle,
			unsigned timeout_ms)
{
	return wait_status(f, i, needle, NULL, timeout_ms);
}

int fixture_wait_verified(const struct fixture *f, int i, unsigned timeout_ms)
{
	return wait_status(f, i, "\"verified\":true", "\"verified\":false",
			   timeout_ms);
}
