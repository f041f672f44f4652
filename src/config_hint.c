/*
 * config_hint.c - "did you mean": the known setting name closest to an
 * unknown one, within two edits (insertions, deletions, substitutions,
 * transpositions of neighbours).
 */
#include <string.h>

#include "secho/config_int.h"

#define NAME_MAX_LEN	64

int
cfg_distance(const char *a, const char *b)
{
	int d[NAME_MAX_LEN + 1][NAME_MAX_LEN + 1];
	size_t la = strlen(a), lb = strlen(b), i, j;
	int cost, v;

	if (la > NAME_MAX_LEN || lb > NAME_MAX_LEN)
		return 99;
	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			cost = a[i - 1] != b[j - 1];
			v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb] > 99 ? 99 : d[la][lb];
}

const char *
cfg_hint(const char *name, const struct field *fields, size_t nfields)
{
	const char *best = NULL;
	int bestd = 3, dist;
	size_t k, len;

	for (k = 0; k < nfields; k++) {
		dist = cfg_distance(name, fields[k].f_name);
		len = strlen(fields[k].f_name);
		/* Two edits in a short name are another name. */
		if (dist < bestd && (size_t)dist * 3 <= len) {
			bestd = dist;
			best = fields[k].f_name;
		}
	}
	return best;
}
