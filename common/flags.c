#include "common/flags.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FLAGS 64

int flags_parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (*s == '\0' || *s == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end && (end[1] != '\0' && strcmp(end + 1, "iB") != 0 &&
		     strcmp(end + 1, "B") != 0))
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int set_value(const struct flag *f, const char *text)
{
	char *end;
	switch (f->type) {
	case FLAG_STR:
		*(const char **)f->value = text;
		return 0;
	case FLAG_INT: {
		errno = 0;
		long v = strtol(text, &end, 10);
		if (errno || end == text || *end)
			return -EINVAL;
		*(long *)f->value = v;
		return 0;
	}
	case FLAG_SIZE:
		return flags_parse_size(text, (uint64_t *)f->value);
	case FLAG_BOOL:
		if (!strcmp(text, "true") || !strcmp(text, "1") ||
		    !strcmp(text, "yes"))
			*(bool *)f->value = true;
		else if (!strcmp(text, "false") || !strcmp(text, "0") ||
			 !strcmp(text, "no"))
			*(bool *)f->value = false;
		else
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

static void print_help(const struct flag *flags, const char *prog,
		       const char *summary)
{
	printf("usage: %s [flags]\n%s\n\nflags:\n", prog, summary);
	for (const struct flag *f = flags; f->name; f++) {
		const char *arg = f->type == FLAG_BOOL	 ? ""
				  : f->type == FLAG_STR	 ? " STRING"
				  : f->type == FLAG_SIZE ? " SIZE"
							 : " N";
		printf("  -%s%s\n      %s (default: %s)\n", f->name, arg,
		       f->help, f->def && *f->def ? f->def : "none");
	}
	printf("  -help\n      print this help\n");
}

int flags_parse(const struct flag *flags, int argc, char **argv,
		const char *summary)
{
	struct option opts[MAX_FLAGS + 2];
	int n = 0;
	for (const struct flag *f = flags; f->name; f++, n++) {
		if (n >= MAX_FLAGS)
			return -EINVAL;
		const char *def = f->def ? f->def : "";
		if (f->type == FLAG_STR || *def)
			if (set_value(f, f->type == FLAG_BOOL && !*def ? "false"
								       : def)) {
				fprintf(stderr, "bad default for -%s\n",
					f->name);
				return -EINVAL;
			}
		if (f->type == FLAG_BOOL && !*def)
			*(bool *)f->value = false;
		opts[n] = (struct option){f->name,
					  f->type == FLAG_BOOL
						  ? optional_argument
						  : required_argument,
					  NULL, n};
	}
	opts[n] = (struct option){"help", no_argument, NULL, n};
	opts[n + 1] = (struct option){0, 0, 0, 0};

	optind = 1;
	opterr = 0;
	for (;;) {
		int idx = -1;
		int c = getopt_long_only(argc, argv, "", opts, &idx);
		if (c == -1)
			break;
		if (c == '?' || c < 0 || c > n) {
			fprintf(stderr,
				"%s: unknown or incomplete flag '%s' "
				"(try -help)\n",
				argv[0], argv[optind - 1]);
			return -EINVAL;
		}
		if (c == n) {
			print_help(flags, argv[0], summary);
			return 1;
		}
		const struct flag *f = &flags[c];
		const char *text = optarg;
		if (f->type == FLAG_BOOL && !text)
			text = "true";
		if (set_value(f, text)) {
			fprintf(stderr, "%s: bad value '%s' for -%s\n", argv[0],
				text, f->name);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (try -help)\n",
			argv[0], argv[optind]);
		return -EINVAL;
	}
	return 0;
}

long flags_parse_duration_ms(const char *s, double max_ms)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"ms", 1},
		     {"s", 1e3},   {"m", 60e3},	 {"h", 3600e3}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			double ms = v * units[i].ms;
			return ms < 1 ? 1 : ms > max_ms ? -EINVAL : (long)ms;
		}
	return -EINVAL;
}
