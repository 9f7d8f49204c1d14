/* A cask cluster as child processes (tests/harness.h): volumes and
 * masters on 127.0.0.1 ephemeral ports, their data and logs in one temp
 * folder, each started only once it answers GET /_/health.
 *
 * Layout of f->dir: volume i keeps its data in v<i> and logs to v<i>.log;
 * master i (0-based) has Raft id i+1, its database in m<i+1> and its log
 * in m<i+1>.log. Every master's port is chosen by fixture_start, so a
 * replicated master knows its peers before they run, and a master
 * restarted with harness_restart comes back at the same address.
 *
 * The processes are the harness_proc in f->vol and f->master: signal,
 * stop and restart them with harness_signal/harness_stop/harness_restart.
 * Functions return 0 or a negative errno (the harness_start error). Not
 * thread-safe; the addresses in f may be read from any thread once the
 * processes they name are started. */
#ifndef CASK_FIXTURE_H
#define CASK_FIXTURE_H

#include <stdbool.h>

#include "tests/harness.h"

#define FIXTURE_MAX_VOLUMES 6
#define FIXTURE_MAX_MASTERS 5

struct fixture_opts {
	const char *tag; /* names the temp folder */
	int volumes;	 /* volumes to start at once */
	int masters;	 /* masters to start at once, after the volumes */
	/* Masters get -id and -peers (the first `masters` ones). */
	bool replicated;
	/* -volumes for every master; NULL: the volumes started so far. */
	const char *volume_list;
	const char *check_interval; /* NULL: the master's default */
	/* More flags for every master, NULL-terminated; copied. */
	const char *const *master_args;
	/* More flags for every volume, NULL-terminated; borrowed for the
	 * fixture's life. */
	const char *const *volume_args;
};

struct fixture {
	const char *dir;
	int nvol;    /* volumes 0..nvol-1 were started */
	int nmaster; /* masters 0..nmaster-1 were started */
	struct harness_proc vol[FIXTURE_MAX_VOLUMES];
	struct harness_proc master[FIXTURE_MAX_MASTERS];
	char vaddr[FIXTURE_MAX_VOLUMES][32]; /* 127.0.0.1:port */
	char volumes[256];		     /* vaddr of the started, a,b,c */
	int mport[FIXTURE_MAX_MASTERS];
	char murl[FIXTURE_MAX_MASTERS][40]; /* http://127.0.0.1:port */
	char peers[512];		    /* 1=http://...,2=... */
	/* What fixture_start_master needs from the options. */
	bool replicated;
	char volume_list[256];
	char check_interval[16];
	char margbuf[512];
	const char *margv[16];
	const char *const *vargv;
};

/* Makes the temp folder, picks the masters' ports, starts the volumes
 * then the masters the options ask for. */
int fixture_start(struct fixture *f, const struct fixture_opts *o);

/* Starts volume i (a new one, or one that was never started) on a fresh
 * port and adds it to f->volumes. */
int fixture_start_volume(struct fixture *f, int i);

/* Starts master i with the fixture's flags, then `extra` (NULL-terminated,
 * may be NULL). A replicated master given `join` (a member's URL) joins
 * with -join instead of founding with -peers. */
int fixture_start_master(struct fixture *f, int i, const char *join,
			 const char *const *extra);

/* Polls master i's /_/status (every 50 ms, up to timeout_ms) until its
 * body contains `needle`. Returns 0, or -ETIMEDOUT (also when the master
 * does not answer 200). */
int fixture_wait_status(const struct fixture *f, int i, const char *needle,
			unsigned timeout_ms);

/* Polls master i's /_/status, as fixture_wait_status, until every volume
 * it lists is verified: the leader compared its listing with the index,
 * the last thing a new cluster commits on its own. */
int fixture_wait_verified(const struct fixture *f, int i, unsigned timeout_ms);

/* Stops every master still running (a SIGSTOPped one is continued
 * first) with harness_stop_clean, then every volume. Returns 0, or the
 * first master's non-zero wait status. */
int fixture_stop(struct fixture *f);

#endif
