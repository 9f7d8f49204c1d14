#include "master/write/index_machine.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "master/state/cmd.h"

static int apply(void *arg, const struct machine_entry *e, size_t n,
		 int *results, bool *changed)
{
	assert(e && results && changed && n);
	struct idx_entry *ie = malloc(n * sizeof(*ie));
	if (!ie)
		return -ENOMEM;
	/* An entry without a command moves the applied index too, as a
	 * command that does not decode (a result nobody reads). */
	static const uint8_t none = 0;
	*changed = false;
	for (size_t i = 0; i < n; i++) {
		ie[i] = (struct idx_entry){.index = e[i].index,
					   .term = e[i].term,
					   .cmd = e[i].data ? e[i].data : &none,
					   .len = e[i].data ? e[i].len : 0};
		struct cmd c;
		if (e[i].data && cmd_decode(e[i].data, e[i].len, &c) == 0)
			*changed |=
				c.type == CMD_VOLUMES || c.type == CMD_VOLUME;
	}
	int rc = idx_apply(arg, ie, n, results);
	free(ie);
	return rc;
}

static int applied(void *arg, uint64_t *index)
{
	return idx_applied(arg, index);
}

static int copy(void *arg, int fd)
{
	return idx_copy(arg, fd);
}

static int install(void *arg, const char *path)
{
	return idx_install(arg, path);
}

static int check(void *arg, const char *path, uint64_t index, const char **why)
{
	(void)arg;
	return idx_check_copy(path, index, why);
}

static int relax_sync(void *arg)
{
	return idx_relax_sync(arg);
}

static int sync_all(void *arg)
{
	return idx_sync(arg);
}

static const struct machine_ops ops = {
	.apply = apply,
	.applied = applied,
	.copy = copy,
	.install = install,
	.check = check,
	.relax_sync = relax_sync,
	.sync = sync_all,
};

void index_machine(struct idx *ix, struct machine *out)
{
	assert(ix && out);
	*out = (struct machine){.ops = &ops, .arg = ix};
}
