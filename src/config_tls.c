/*
 * config_tls.c - the tls groups of the configuration (global and per
 * listener) and their sni entries: certificate sets given as a string or
 * a list, OCSP responses, ALPN, the key log, SNI names; defaults, the
 * field-by-field merge of a listener's group over the global one, and
 * the checks that need both.  Certificates are not opened here (tls.c).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secho/config.h"

#include "secho/config_int.h"

#define TLS_V12		0x0303
#define TLS_V13		0x0304

static const struct enumval verifies[] = {
	{ "none", SECHO_VERIFY_NONE }, { "optional", SECHO_VERIFY_OPTIONAL },
	{ "require", SECHO_VERIFY_REQUIRE },
	{ NULL, 0 }
};

static const struct enumval tls_versions[] = {
	{ "TLSv1.2", TLS_V12 }, { "TLSv1.3", TLS_V13 },
	{ NULL, 0 }
};

/* Order matters: indexes are the bits of the "given" mask (TF_*). */
static const struct field tls_fields[] = {
	FOTHER("certificate"),		/* a string or a list */
	FOTHER("private_key"),
	FSTRL("client_ca", K_OPTSTRING, struct tls_config, tc_client_ca,
	    tc_client_ca_line),
	FENUM("verify_client", struct tls_config, tc_verify_client, verifies,
	    "none, optional, require"),
	FENUM("min_protocol", struct tls_config, tc_min_protocol,
	    tls_versions, "TLSv1.2, TLSv1.3"),
	FSTR("ciphers", K_OPTSTRING, struct tls_config, tc_ciphers),
	FSTR("ciphersuites", K_OPTSTRING, struct tls_config, tc_ciphersuites),
	FSTR("groups", K_OPTSTRING, struct tls_config, tc_groups),
	FBOOL("session_tickets", struct tls_config, tc_session_tickets),
	FOTHER("ocsp_response"),
	FOTHER("alpn"),
	FSTRL("keylog_file", K_OPTSTRING, struct tls_config, tc_keylog_file,
	    tc_keylog_line),
	FOTHER("sni"),
	FBOOL("sni_strict", struct tls_config, tc_sni_strict),
};
#define TF_ALPN		(1u << 10)
#define TF_SNI		(1u << 12)

/* ---- string or list of files ---- */

void
cfg_files_clear(struct tls_files *tf)
{
	size_t i;

	for (i = 0; i < tf->tf_count; i++)
		free(tf->tf_path[i]);
	free(tf->tf_path);
	free(tf->tf_lines);
	memset(tf, 0, sizeof(*tf));
}

int
cfg_files_copy(struct tls_files *dst, const struct tls_files *src)
{
	size_t i;

	*dst = *src;
	dst->tf_path = NULL;
	dst->tf_lines = NULL;
	dst->tf_count = 0;
	if (src->tf_count == 0)
		return 0;
	dst->tf_path = calloc(src->tf_count, sizeof(*dst->tf_path));
	dst->tf_lines = calloc(src->tf_count, sizeof(*dst->tf_lines));
	if (dst->tf_path == NULL || dst->tf_lines == NULL)
		return -1;
	for (i = 0; i < src->tf_count; i++) {
		if ((dst->tf_path[i] = strdup(src->tf_path[i])) == NULL)
			return -1;
		dst->tf_lines[i] = src->tf_lines[i];
		dst->tf_count++;
	}
	return 0;
}

/*
 * A string (one file; "" = unset) or a list of 1..SECHO_TLS_MAX_CERTS
 * strings.  empty_ok: "" entries of a list stand for "none".
 */
int
cfg_parse_files(struct ctx *c, const config_setting_t *s, const char *path,
    struct tls_files *tf, int empty_ok)
{
	const config_setting_t *e;
	const char *str;
	size_t n, i;
	int list;

	cfg_files_clear(tf);
	tf->tf_line = (int)config_setting_source_line(s);
	list = config_setting_is_array(s) || config_setting_is_list(s);
	if (!list && config_setting_type(s) != CONFIG_TYPE_STRING) {
		cfg_err(c, s, "%s: expected a string or a list of strings",
		    path);
		return 1;
	}
	n = list ? (size_t)config_setting_length(s) : 1;
	if (list && (n == 0 || n > SECHO_TLS_MAX_CERTS)) {
		cfg_err(c, s, "%s: a list of 1 to %d files (one per key type)",
		    path, SECHO_TLS_MAX_CERTS);
		return 1;
	}
	if (!list && *config_setting_get_string(s) == '\0')
		return 0;	/* unset */
	tf->tf_list = list;
	tf->tf_path = calloc(n, sizeof(*tf->tf_path));
	tf->tf_lines = calloc(n, sizeof(*tf->tf_lines));
	if (tf->tf_path == NULL || tf->tf_lines == NULL) {
		c->c_err.eb_oom = 1;
		return 1;
	}
	for (i = 0; i < n; i++) {
		e = list ? config_setting_get_elem(s, (unsigned)i) : s;
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfg_err(c, e, "%s[%zu]: expected a string", path, i);
			cfg_files_clear(tf);
			return 1;
		}
		str = config_setting_get_string(e);
		if (*str == '\0' && !empty_ok) {
			cfg_err(c, e, "%s[%zu]: must not be empty", path, i);
			cfg_files_clear(tf);
			return 1;
		}
		if ((tf->tf_path[i] = strdup(str)) == NULL) {
			c->c_err.eb_oom = 1;
			cfg_files_clear(tf);
			return 1;
		}
		tf->tf_lines[i] = (int)config_setting_source_line(e);
		if (tf->tf_lines[i] <= 0)
			tf->tf_lines[i] = tf->tf_line;
		tf->tf_count++;
	}
	return 0;
}

/*
 * The lists of one certificate set agree: a key per certificate and no
 * response or one per certificate.  g holds the settings, in group path.
 */
int
cfg_check_lengths(struct ctx *c, const config_setting_t *g, const char *path,
    const struct tls_files *cert, const struct tls_files *key,
    const struct tls_files *ocsp)
{
	const config_setting_t *s;
	int errors = 0;

	if (cert->tf_count && key->tf_count &&
	    cert->tf_count != key->tf_count) {
		if ((s = config_setting_get_member(g, "private_key")) == NULL)
			s = g;
		cfg_err(c, s, "%s.private_key: %zu key%s for %zu certificates "
		    "(one per certificate, in the same order)", path,
		    key->tf_count, key->tf_count == 1 ? "" : "s",
		    cert->tf_count);
		errors++;
	}
	if (ocsp->tf_count && ocsp->tf_count != cert->tf_count) {
		if ((s = config_setting_get_member(g, "ocsp_response")) == NULL)
			s = g;
		if (!ocsp->tf_list)
			cfg_err(c, s, "%s.ocsp_response: one response for %zu "
			    "certificates: give a list in the order of "
			    "certificate (\"\" for none)", path,
			    cert->tf_count);
		else
			cfg_err(c, s, "%s.ocsp_response: %zu responses for %zu "
			    "certificate%s (one per certificate, in the same "
			    "order; \"\" for none)", path, ocsp->tf_count,
			    cert->tf_count, cert->tf_count == 1 ? "" : "s");
		errors++;
	}
	return errors;
}

/* ---- alpn ---- */

static int
parse_alpn(struct ctx *c, const config_setting_t *s, const char *path,
    struct tls_config *tc)
{
	const config_setting_t *e;
	const char *str;
	size_t len, total = 0;
	int i, n;

	free(tc->tc_alpn);
	tc->tc_alpn = NULL;
	tc->tc_alpn_len = 0;
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		cfg_err(c, s, "%s: expected a list of protocol names", path);
		return 1;
	}
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfg_err(c, e, "%s: expected a string", path);
			return 1;
		}
		len = strlen(config_setting_get_string(e));
		if (len == 0 || len > 255) {
			cfg_err(c, e, "%s: a protocol name has 1 to 255 bytes",
			    path);
			return 1;
		}
		total += 1 + len;
	}
	if (total == 0)
		return 0;
	if (total > 65535) {
		cfg_err(c, s, "%s: the list is too long", path);
		return 1;
	}
	if ((tc->tc_alpn = malloc(total)) == NULL) {
		c->c_err.eb_oom = 1;
		return 1;
	}
	for (i = 0; i < n; i++) {
		str = config_setting_get_string(config_setting_get_elem(s,
		    (unsigned)i));
		len = strlen(str);
		tc->tc_alpn[tc->tc_alpn_len++] = (unsigned char)len;
		memcpy(tc->tc_alpn + tc->tc_alpn_len, str, len);
		tc->tc_alpn_len += len;
	}
	return 0;
}

/* ---- the group ---- */

void
cfg_tls_clear(struct tls_config *tc)
{
	cfg_files_clear(&tc->tc_certificate);
	cfg_files_clear(&tc->tc_private_key);
	cfg_files_clear(&tc->tc_ocsp_response);
	free(tc->tc_client_ca);
	free(tc->tc_ciphers);
	free(tc->tc_ciphersuites);
	free(tc->tc_groups);
	free(tc->tc_alpn);
	free(tc->tc_keylog_file);
	cfg_sni_free(tc->tc_sni, tc->tc_nsni);
	memset(tc, 0, sizeof(*tc));
}

static int
dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src != NULL && (*dst = strdup(src)) == NULL)
		return -1;
	return 0;
}

int
cfg_tls_defaults(struct tls_config *tc)
{
	memset(tc, 0, sizeof(*tc));
	tc->tc_verify_client = SECHO_VERIFY_NONE;
	tc->tc_min_protocol = TLS_V12;
	tc->tc_session_tickets = 1;
	if (dup_opt(&tc->tc_ciphers, SECHO_DEFAULT_CIPHERS) == -1 ||
	    dup_opt(&tc->tc_ciphersuites, SECHO_DEFAULT_CIPHERSUITES) == -1 ||
	    dup_opt(&tc->tc_groups, SECHO_DEFAULT_GROUPS) == -1)
		return -1;
	return 0;
}

int
cfg_tls_group(struct ctx *c, const config_setting_t *g, const char *path,
    struct tls_config *tc, unsigned *given)
{
	const config_setting_t *m;
	char sub[PATH_LEN];
	int errors;

	errors = cfg_parse_group(c, g, path, tls_fields, NFIELDS(tls_fields),
	    tc, given);
	if ((m = config_setting_get_member(g, "certificate")) != NULL) {
		cfg_join(sub, sizeof(sub), path, "certificate");
		errors += cfg_parse_files(c, m, sub, &tc->tc_certificate, 0);
	}
	if ((m = config_setting_get_member(g, "private_key")) != NULL) {
		cfg_join(sub, sizeof(sub), path, "private_key");
		errors += cfg_parse_files(c, m, sub, &tc->tc_private_key, 0);
	}
	if ((m = config_setting_get_member(g, "ocsp_response")) != NULL) {
		cfg_join(sub, sizeof(sub), path, "ocsp_response");
		errors += cfg_parse_files(c, m, sub, &tc->tc_ocsp_response, 1);
	}
	if ((m = config_setting_get_member(g, "alpn")) != NULL) {
		cfg_join(sub, sizeof(sub), path, "alpn");
		errors += parse_alpn(c, m, sub, tc);
	}
	if ((m = config_setting_get_member(g, "sni")) != NULL) {
		cfg_join(sub, sizeof(sub), path, "sni");
		errors += cfg_sni_parse(c, m, sub, tc);
	}
	return errors;
}

/* Move *ov's K_OTHER field k (or copy global's) into out. */
static int
merge_other(struct tls_config *out, const struct tls_config *global,
    struct tls_config *ov, size_t k, int from_ov)
{
	const struct tls_config *from = from_ov ? ov : global;

	switch (k) {
	case 0:
	case 1:
	case 9: {
		struct tls_files *d = k == 0 ? &out->tc_certificate :
		    k == 1 ? &out->tc_private_key : &out->tc_ocsp_response;
		const struct tls_files *f = k == 0 ? &from->tc_certificate :
		    k == 1 ? &from->tc_private_key : &from->tc_ocsp_response;

		if (!from_ov)
			return cfg_files_copy(d, f);
		*d = *f;
		memset((void *)f, 0, sizeof(*f));	/* moved: ov's own */
		return 0;
	}
	case 10:
		if (from_ov) {
			out->tc_alpn = ov->tc_alpn;
			out->tc_alpn_len = ov->tc_alpn_len;
			ov->tc_alpn = NULL;
			return 0;
		}
		out->tc_alpn_len = global->tc_alpn_len;
		if (global->tc_alpn_len == 0)
			return 0;
		if ((out->tc_alpn = malloc(global->tc_alpn_len)) == NULL)
			return -1;
		memcpy(out->tc_alpn, global->tc_alpn, global->tc_alpn_len);
		return 0;
	case 12:
		if (from_ov) {
			out->tc_sni = ov->tc_sni;
			out->tc_nsni = ov->tc_nsni;
			ov->tc_sni = NULL;
			ov->tc_nsni = 0;
			return 0;
		}
		out->tc_nsni = global->tc_nsni;
		return cfg_sni_copy(&out->tc_sni, global->tc_sni, global->tc_nsni);
	}
	return 0;
}

int
cfg_tls_merge(struct tls_config *out, const struct tls_config *global,
    struct tls_config *ov, unsigned mask)
{
	size_t k;

	/* A response belongs to its certificate: inherited with it only. */
	if ((mask & TF_CERTIFICATE) && !(mask & TF_OCSP))
		mask |= TF_OCSP;
	memset(out, 0, sizeof(*out));
	for (k = 0; k < NFIELDS(tls_fields); k++) {
		const struct field *f = &tls_fields[k];
		int from_ov = (mask & (1u << k)) != 0;
		const struct tls_config *from = from_ov ? ov : global;
		char *dst = (char *)out + f->f_off;
		const char *src = (const char *)from + f->f_off;

		if (f->f_kind == K_OTHER) {
			if (merge_other(out, global, ov, k, from_ov) == -1)
				return -1;
			continue;
		}
		if (f->f_kind == K_OPTSTRING) {
			if (from_ov) {
				*(char **)(void *)dst = *(char *const *)(const void *)src;
				*(char **)(void *)((char *)ov + f->f_off) = NULL;
			} else if (dup_opt((char **)(void *)dst,
			    *(char *const *)(const void *)src) == -1)
				return -1;
		} else
			*(int *)(void *)dst = *(const int *)(const void *)src;
		if (f->f_line_off != NOLINE)
			*(int *)(void *)((char *)out + f->f_line_off) =
			    *(const int *)(const void *)((const char *)from +
			    f->f_line_off);
	}
	return 0;
}

int
cfg_tls_check(struct ctx *c, const config_setting_t *g, const char *path,
    const struct tls_config *tc, unsigned mask)
{
	const config_setting_t *s, *list;
	const struct tls_sni *sn;
	int errors = 0, verify;
	size_t i;

	if ((mask & (TF_VERIFY | TF_CLIENT_CA)) &&
	    tc->tc_verify_client != SECHO_VERIFY_NONE && !tc->tc_client_ca) {
		if ((s = config_setting_get_member(g, "verify_client")) ==
		    NULL && (s = config_setting_get_member(g, "client_ca")) ==
		    NULL)
			s = g;
		cfg_err(c, s, "%s.verify_client: \"%s\" needs %s.client_ca",
		    path, verifies[tc->tc_verify_client].ev_name, path);
		errors++;
	}
	if (mask & (TF_CERTIFICATE | TF_PRIVATE_KEY | TF_OCSP))
		errors += cfg_check_lengths(c, g, path, &tc->tc_certificate,
		    &tc->tc_private_key, &tc->tc_ocsp_response);
	if (!(mask & (TF_SNI | TF_VERIFY | TF_CLIENT_CA)))
		return errors;
	/* An entry that asks for client certificates needs a CA. */
	list = config_setting_get_member(g, "sni");
	for (i = 0; i < tc->tc_nsni; i++) {
		sn = &tc->tc_sni[i];
		verify = (sn->sn_given & SECHO_SNI_VERIFY) ?
		    sn->sn_verify_client : tc->tc_verify_client;
		/* As tls.c takes it: an entry's own client_ca, "" too. */
		if (verify == SECHO_VERIFY_NONE ||
		    ((sn->sn_given & SECHO_SNI_CLIENT_CA) ? sn->sn_client_ca :
		    tc->tc_client_ca) != NULL)
			continue;
		if (!(sn->sn_given & (SECHO_SNI_VERIFY | SECHO_SNI_CLIENT_CA)) &&
		    (mask & (TF_VERIFY | TF_CLIENT_CA)))
			continue;	/* the group's own, reported above */
		s = list ? config_setting_get_elem(list, (unsigned)i) : NULL;
		cfg_err(c, s ? s : g, "%s.sni.[%zu].verify_client: \"%s\" "
		    "needs a client_ca", path, i, verifies[verify].ev_name);
		errors++;
	}
	return errors;
}
