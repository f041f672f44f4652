/*
 * config_sni.c - the sni entries of a tls group: host names (exact or
 * "*." and one label; ASCII, IDNA A-labels as they are; each listed once
 * per group), certificate set, OCSP responses, client certificates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secho/config.h"

#include "secho/config_int.h"

static const struct enumval verifies[] = {
	{ "none", SECHO_VERIFY_NONE }, { "optional", SECHO_VERIFY_OPTIONAL },
	{ "require", SECHO_VERIFY_REQUIRE },
	{ NULL, 0 }
};

/* An sni entry; bits of sn_given in this order (SECHO_SNI_*). */
static const struct field sni_fields[] = {
	FOTHER("names"),
	FOTHER("certificate"),
	FOTHER("private_key"),
	FOTHER("ocsp_response"),
	FSTRL("client_ca", K_OPTSTRING, struct tls_sni, sn_client_ca,
	    sn_client_ca_line),
	FENUM("verify_client", struct tls_sni, sn_verify_client, verifies,
	    "none, optional, require"),
};
#define SF_NAMES	(1u << 0)
#define SF_CERTIFICATE	(1u << 1)
#define SF_PRIVATE_KEY	(1u << 2)

/*
 * An sni name: a host name, or "*." and a host name; ASCII only (IDNA
 * A-labels, "xn--...", as they are).  Returns the lower-case copy (a
 * trailing dot dropped), or NULL with *why set.
 */
static char *
sni_name(const char *name, const char **why)
{
	size_t len = strlen(name), i, label = 0;
	const char *p = name;
	char *out;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	if ((size_t)(p - name) >= len) {
		*why = "is empty";
		return NULL;
	}
	if (len > 253) {
		*why = "is longer than 253 characters";
		return NULL;
	}
	for (i = (size_t)(p - name); i < len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch >= 0x80) {
			*why = "is not ASCII: write its IDNA A-label "
			    "(\"xn--...\")";
			return NULL;
		}
		if (ch == '*') {
			*why = "has a wildcard elsewhere than as the whole "
			    "first label (\"*.example.org\")";
			return NULL;
		}
		if (ch == '.') {
			if (label == 0) {
				*why = "has an empty label";
				return NULL;
			}
			label = 0;
			continue;
		}
		if (!(ch == '-' || ch == '_' || (ch >= '0' && ch <= '9') ||
		    (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))) {
			*why = "is not a host name (letters, digits, '-' "
			    "and '.')";
			return NULL;
		}
		if (++label > 63) {
			*why = "has a label longer than 63 characters";
			return NULL;
		}
	}
	if (label == 0) {
		*why = "has an empty label";
		return NULL;
	}
	if ((out = strndup(name, len)) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	for (i = 0; out[i]; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
	return out;
}

static void
sni_clear(struct tls_sni *sn)
{
	size_t i;

	for (i = 0; i < sn->sn_nnames; i++)
		free(sn->sn_names[i]);
	free(sn->sn_names);
	cfg_files_clear(&sn->sn_certificate);
	cfg_files_clear(&sn->sn_private_key);
	cfg_files_clear(&sn->sn_ocsp_response);
	free(sn->sn_client_ca);
	memset(sn, 0, sizeof(*sn));
}

void
cfg_sni_free(struct tls_sni *sn, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sni_clear(&sn[i]);
	free(sn);
}

int
cfg_sni_copy(struct tls_sni **dst, const struct tls_sni *src, size_t n)
{
	struct tls_sni *d;
	size_t i, j;

	*dst = NULL;
	if (n == 0)
		return 0;
	if ((d = calloc(n, sizeof(*d))) == NULL)
		return -1;
	*dst = d;
	for (i = 0; i < n; i++) {
		d[i] = src[i];
		d[i].sn_names = NULL;
		d[i].sn_nnames = 0;
		d[i].sn_client_ca = NULL;
		memset(&d[i].sn_certificate, 0, sizeof(struct tls_files));
		memset(&d[i].sn_private_key, 0, sizeof(struct tls_files));
		memset(&d[i].sn_ocsp_response, 0, sizeof(struct tls_files));
		if ((d[i].sn_names = calloc(src[i].sn_nnames,
		    sizeof(char *))) == NULL)
			return -1;
		for (j = 0; j < src[i].sn_nnames; j++) {
			if ((d[i].sn_names[j] = strdup(src[i].sn_names[j])) ==
			    NULL)
				return -1;
			d[i].sn_nnames++;
		}
		if ((src[i].sn_client_ca && (d[i].sn_client_ca =
		    strdup(src[i].sn_client_ca)) == NULL) ||
		    cfg_files_copy(&d[i].sn_certificate,
		    &src[i].sn_certificate) == -1 ||
		    cfg_files_copy(&d[i].sn_private_key,
		    &src[i].sn_private_key) == -1 ||
		    cfg_files_copy(&d[i].sn_ocsp_response,
		    &src[i].sn_ocsp_response) == -1)
			return -1;
	}
	return 0;
}

/* The names of entry sn (setting s); duplicates of earlier entries. */
static int
parse_names(struct ctx *c, const config_setting_t *s, const char *path,
    struct tls_sni *all, size_t idx)
{
	struct tls_sni *sn = &all[idx];
	const config_setting_t *e;
	const char *why;
	char *name;
	size_t i, j, k;
	int n, errors = 0;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		cfg_err(c, s, "%s: expected a list of names", path);
		return 1;
	}
	n = config_setting_length(s);
	if (n == 0) {
		cfg_err(c, s, "%s: an sni entry needs at least one name", path);
		return 1;
	}
	if ((sn->sn_names = calloc((size_t)n, sizeof(char *))) == NULL) {
		c->c_err.eb_oom = 1;
		return 1;
	}
	for (i = 0; i < (size_t)n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfg_err(c, e, "%s: expected a string", path);
			errors++;
			continue;
		}
		if ((name = sni_name(config_setting_get_string(e), &why)) ==
		    NULL) {
			cfg_err(c, e, "%s: \"%s\" %s", path,
			    cfg_quote(c, config_setting_get_string(e)), why);
			errors++;
			continue;
		}
		for (j = 0; j <= idx; j++)
			for (k = 0; k < all[j].sn_nnames; k++)
				if (strcmp(all[j].sn_names[k], name) == 0) {
					cfg_err(c, e, "%s: \"%s\" is listed "
					    "twice (first in the entry at "
					    "line %d)", path, cfg_quote(c,
					    name), all[j].sn_line);
					errors++;
					j = idx + 1;
					break;
				}
		sn->sn_names[sn->sn_nnames++] = name;
	}
	return errors;
}

int
cfg_sni_parse(struct ctx *c, const config_setting_t *s, const char *path,
    struct tls_config *tc)
{
	const config_setting_t *e, *m;
	struct tls_sni *sn;
	char epath[PATH_LEN], sub[PATH_LEN];
	size_t i, n;
	unsigned given;
	int errors = 0, err;

	cfg_sni_free(tc->tc_sni, tc->tc_nsni);
	tc->tc_sni = NULL;
	tc->tc_nsni = 0;
	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		cfg_err(c, s, "%s: expected a list of groups", path);
		return 1;
	}
	if ((n = (size_t)config_setting_length(s)) == 0)
		return 0;
	if ((tc->tc_sni = calloc(n, sizeof(*tc->tc_sni))) == NULL) {
		c->c_err.eb_oom = 1;
		return 1;
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		sn = &tc->tc_sni[tc->tc_nsni++];
		sn->sn_line = (int)config_setting_source_line(e);
		snprintf(epath, sizeof(epath), "%s.[%zu]", path, i);
		if (!cfg_want_group(c, e, epath)) {
			errors++;
			continue;
		}
		err = cfg_parse_group(c, e, epath, sni_fields,
		    NFIELDS(sni_fields), sn, &given);
		sn->sn_given = given;
		if ((m = config_setting_get_member(e, "names")) != NULL) {
			cfg_join(sub, sizeof(sub), epath, "names");
			err += parse_names(c, m, sub, tc->tc_sni, i);
		}
		if ((m = config_setting_get_member(e, "certificate")) != NULL) {
			cfg_join(sub, sizeof(sub), epath, "certificate");
			err += cfg_parse_files(c, m, sub, &sn->sn_certificate, 0);
		}
		if ((m = config_setting_get_member(e, "private_key")) != NULL) {
			cfg_join(sub, sizeof(sub), epath, "private_key");
			err += cfg_parse_files(c, m, sub, &sn->sn_private_key, 0);
		}
		if ((m = config_setting_get_member(e, "ocsp_response")) !=
		    NULL) {
			cfg_join(sub, sizeof(sub), epath, "ocsp_response");
			err += cfg_parse_files(c, m, sub, &sn->sn_ocsp_response, 1);
		}
		if (err == 0 && !(given & SF_NAMES)) {
			cfg_err(c, e, "%s: missing setting \"names\"", epath);
			err++;
		}
		if (err == 0 && sn->sn_certificate.tf_count == 0) {
			cfg_err(c, e, "%s: missing setting \"certificate\"",
			    epath);
			err++;
		}
		if (err == 0 && sn->sn_private_key.tf_count == 0) {
			cfg_err(c, e, "%s: missing setting \"private_key\"",
			    epath);
			err++;
		}
		if (err == 0)
			err += cfg_check_lengths(c, e, epath, &sn->sn_certificate,
			    &sn->sn_private_key, &sn->sn_ocsp_response);
		errors += err;
	}
	return errors;
}

