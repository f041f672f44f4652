/*
 * config_int.h - what the configuration loader's files share (config.c:
 * the walker, errors, daemon/log/limits/listeners; config_tls.c: the tls
 * groups and their sni entries; config_hint.c: "did you mean").  Not a
 * public interface: include/secho/config.h is.
 */
#ifndef SECHO_CONFIG_INT_H
#define SECHO_CONFIG_INT_H

#include <limits.h>
#include <stddef.h>

#include <libconfig.h>

#include "secho/config.h"

/* Longest dotted setting path kept in messages ("listeners.[12].tls.x"). */
#define PATH_LEN	128

/* Longest quoted value shown in a message. */
#define QUOTE_MAX	200

/* Growing buffer of "FILE:LINE: message\n" lines. */
struct errbuf {
	char	*eb_buf;
	size_t	 eb_len;
	size_t	 eb_cap;
	int	 eb_count;
	int	 eb_oom;
};

struct ctx {
	const char		*c_name;	/* file name for messages */
	const char		*c_incdir;	/* include directory or NULL */
	struct secho_config	*c_cfg;
	struct errbuf		 c_err;
	int			 c_tls_bad;	/* global tls group had errors */
	char			 c_file[PATH_MAX];	/* scratch for names */
	char			 c_quote[QUOTE_MAX * 4 + 8];
};

enum kind {
	K_STRING,	/* non-empty string */
	K_OPTSTRING,	/* string; "" means unset (NULL) */
	K_INT,
	K_BOOL,
	K_ENUM,
	K_OTHER		/* known here, parsed by the caller */
};

struct enumval {
	const char	*ev_name;
	int		 ev_value;
};

struct field {
	const char		*f_name;
	enum kind		 f_kind;
	ptrdiff_t		 f_off;		/* into the target struct */
	long long		 f_min, f_max;	/* K_INT */
	const struct enumval	*f_enum;	/* K_ENUM, NULL-terminated */
	const char		*f_enum_list;	/* K_ENUM, for messages */
	ptrdiff_t		 f_line_off;	/* int line store, or -1 */
};

#define NOLINE	(-1)
#define FSTR(n, k, type, m)	{ n, k, offsetof(type, m), 0, 0, NULL, NULL, NOLINE }
#define FSTRL(n, k, type, m, l)	{ n, k, offsetof(type, m), 0, 0, NULL, NULL, offsetof(type, l) }
#define FINT(n, type, m, lo, hi) { n, K_INT, offsetof(type, m), lo, hi, NULL, NULL, NOLINE }
#define FBOOL(n, type, m)	{ n, K_BOOL, offsetof(type, m), 0, 0, NULL, NULL, NOLINE }
#define FENUM(n, type, m, e, l)	{ n, K_ENUM, offsetof(type, m), 0, 0, e, l, NOLINE }
#define FOTHER(n)		{ n, K_OTHER, 0, 0, 0, NULL, NULL, NOLINE }
#define NFIELDS(t)		(sizeof(t) / sizeof((t)[0]))

/* Bits of a tls group's "given" mask (the order of config_tls.c's table). */
#define TF_CERTIFICATE	(1u << 0)
#define TF_PRIVATE_KEY	(1u << 1)
#define TF_CLIENT_CA	(1u << 2)
#define TF_VERIFY	(1u << 3)
#define TF_MIN_PROTOCOL	(1u << 4)
#define TF_OCSP		(1u << 9)

/* config.c */
void	cfg_err(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
const char *cfg_quote(struct ctx *c, const char *s);
void	cfg_join(char *out, size_t len, const char *prefix, const char *name);
int	cfg_parse_group(struct ctx *c, const config_setting_t *g,
	    const char *prefix, const struct field *fields, size_t nfields,
	    void *base, unsigned *given);
int	cfg_want_group(struct ctx *c, const config_setting_t *s,
	    const char *path);

/* config_tls.c */
int	cfg_tls_defaults(struct tls_config *tc);
void	cfg_tls_clear(struct tls_config *tc);
/* Parse tls group g (named path) into tc; the number of errors. */
int	cfg_tls_group(struct ctx *c, const config_setting_t *g,
	    const char *path, struct tls_config *tc, unsigned *given);
/* out = global with the fields of ov given in mask; 0 or -1 (memory). */
int	cfg_tls_merge(struct tls_config *out, const struct tls_config *global,
	    struct tls_config *ov, unsigned mask);
/*
 * After the merge: verify_client needs client_ca, the lists of a
 * certificate set have one length.  g is the group the settings in mask
 * were written in (only those are checked: the others were, where they
 * were written).  The number of errors.
 */
int	cfg_tls_check(struct ctx *c, const config_setting_t *g,
	    const char *path, const struct tls_config *tc, unsigned mask);

/* config_tls.c: a certificate set's string-or-list settings */
void	cfg_files_clear(struct tls_files *tf);
int	cfg_files_copy(struct tls_files *dst, const struct tls_files *src);
/* Parse s into tf; empty_ok: "" entries of a list stand for none. */
int	cfg_parse_files(struct ctx *c, const config_setting_t *s,
	    const char *path, struct tls_files *tf, int empty_ok);
/* A key per certificate, no response or one per certificate. */
int	cfg_check_lengths(struct ctx *c, const config_setting_t *g,
	    const char *path, const struct tls_files *cert,
	    const struct tls_files *key, const struct tls_files *ocsp);

/* config_sni.c: the list s of sni entries into tc; the number of errors */
int	cfg_sni_parse(struct ctx *c, const config_setting_t *s,
	    const char *path, struct tls_config *tc);
int	cfg_sni_copy(struct tls_sni **dst, const struct tls_sni *src,
	    size_t n);
void	cfg_sni_free(struct tls_sni *sn, size_t n);

/* config_hint.c: a known name within two edits of name, or NULL. */
const char *cfg_hint(const char *name, const struct field *fields,
	    size_t nfields);
/* The edit distance (with transpositions) of a and b, at most 99. */
int	cfg_distance(const char *a, const char *b);

#endif
