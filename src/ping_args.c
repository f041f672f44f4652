/*
 * ping_args.c - secho-ping's command line: getopt_long into struct
 * ping_opts, the checks of options against each other, and the parsers
 * of seconds, thresholds, certificate days and ALPN lists.  Pure code:
 * messages go into the caller's buffer, the caller picks the status.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "secho/ping_args.h"

enum {
	OPT_CA = 256,
	OPT_CERT,
	OPT_KEY,
	OPT_SNI,
	OPT_ALPN,
	OPT_TLS_VERSION,
	OPT_RESUME,
	OPT_INSECURE,
	OPT_WARNING,
	OPT_CRITICAL,
	OPT_CERT_DAYS
};

static const struct option long_opts[] = {
	{ "ca",		 required_argument, NULL, OPT_CA },
	{ "cert",	 required_argument, NULL, OPT_CERT },
	{ "key",	 required_argument, NULL, OPT_KEY },
	{ "sni",	 required_argument, NULL, OPT_SNI },
	{ "alpn",	 required_argument, NULL, OPT_ALPN },
	{ "tls-version", required_argument, NULL, OPT_TLS_VERSION },
	{ "resume",	 no_argument,	    NULL, OPT_RESUME },
	{ "insecure",	 no_argument,	    NULL, OPT_INSECURE },
	{ "warning",	 required_argument, NULL, OPT_WARNING },
	{ "critical",	 required_argument, NULL, OPT_CRITICAL },
	{ "cert-days",	 required_argument, NULL, OPT_CERT_DAYS },
	{ "help",	 no_argument,	    NULL, 'h' },
	{ "version",	 no_argument,	    NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static const char short_opts[] = ":uSc:i:s:m:W:Nqj46hV";

static int
fail(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

const char *
ping_proto_name(enum ping_proto p)
{
	switch (p) {
	case PING_TCP:
		return "tcp";
	case PING_UDP:
		return "udp";
	case PING_TLS:
		return "tls";
	case PING_DTLS:
		return "dtls";
	}
	return "?";
}

/* A finite, non-negative decimal number with nothing after it. */
static int
parse_number(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+' ||
	    *s == ' ' || *s == '\t')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0)
		return -1;
	*out = v;
	return 0;
}

int
ping_parse_seconds(const char *s, double min, double max, double *out)
{
	double v;

	/* No hexadecimal floats or "inf"/"nan": digits and a point only. */
	if (s == NULL || strspn(s, "0123456789.") != strlen(s))
		return -1;
	if (parse_number(s, &v) == -1 || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Unsigned decimal in [min, max]. */
static int
parse_uint(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
ping_parse_threshold(const char *s, struct ping_threshold *t)
{
	char buf[64], *comma, *pct;
	double rtt, loss;
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n + 1);
	if ((comma = strchr(buf, ',')) == NULL)
		return -1;
	*comma++ = '\0';
	if ((pct = strchr(comma, '%')) != NULL) {
		if (pct[1] != '\0')
			return -1;
		*pct = '\0';
	}
	if (strspn(buf, "0123456789.") != strlen(buf) ||
	    strspn(comma, "0123456789.") != strlen(comma))
		return -1;
	if (parse_number(buf, &rtt) == -1 || parse_number(comma, &loss) == -1)
		return -1;
	if (loss > 100)
		return -1;
	t->th_set = 1;
	t->th_rtt_ms = rtt;
	t->th_loss_pct = loss;
	return 0;
}

int
ping_parse_cert_days(const char *s, double *warn, double *crit, int *crit_set)
{
	char buf[64], *comma;
	double w, c = 0;
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n >= sizeof(buf))
		return -1;
	if (strspn(s, "0123456789.,") != n)
		return -1;
	memcpy(buf, s, n + 1);
	if ((comma = strchr(buf, ',')) != NULL)
		*comma++ = '\0';
	if (parse_number(buf, &w) == -1)
		return -1;
	if (comma != NULL && (parse_number(comma, &c) == -1 || c > w))
		return -1;
	*warn = w;
	*crit = c;
	*crit_set = comma != NULL;
	return 0;
}

int
ping_parse_alpn(const char *s, unsigned char *wire, size_t max)
{
	const char *p, *e;
	size_t off = 0, n;

	if (s == NULL || *s == '\0')
		return -1;
	for (p = s;; p = e + 1) {
		e = strchr(p, ',');
		n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || n > 255 || off + 1 + n > max)
			return -1;
		wire[off++] = (unsigned char)n;
		memcpy(wire + off, p, n);
		off += n;
		if (e == NULL)
			break;
	}
	return (int)off;
}

/* The long option that "--name" (maybe a prefix) means, as getopt_long. */
static const struct option *
long_match(const char *a, size_t n)
{
	const struct option *hit = NULL;
	size_t i;

	for (i = 0; long_opts[i].name != NULL; i++) {
		if (strncmp(long_opts[i].name, a, n) != 0)
			continue;
		if (strlen(long_opts[i].name) == n)
			return &long_opts[i];		/* exact */
		if (hit != NULL)
			return NULL;			/* ambiguous */
		hit = &long_opts[i];
	}
	return hit;
}

int
ping_args_monitoring(int argc, char **argv)
{
	const struct option *opt;
	const char *a, *eq, *s;
	size_t n;
	int k, j;

	for (k = 1; k < argc; k++) {
		a = argv[k];
		if (strcmp(a, "--") == 0)
			break;
		if (a[0] != '-' || a[1] == '\0')
			continue;		/* HOST, PORT */
		if (a[1] != '-') {
			/*
			 * "-m TEXT", "-qc 3": the next argument is the
			 * option's when nothing follows its letter.
			 */
			for (j = 1; a[j] != '\0'; j++)
				if (a[j] != ':' && (s = strchr(short_opts,
				    a[j])) != NULL && s[1] == ':') {
					k += a[j + 1] == '\0';
					break;
				}
			continue;
		}
		a += 2;
		eq = strchr(a, '=');
		n = eq ? (size_t)(eq - a) : strlen(a);
		if ((opt = long_match(a, n)) == NULL)
			continue;
		if (opt->val == OPT_WARNING || opt->val == OPT_CRITICAL ||
		    opt->val == OPT_CERT_DAYS)
			return 1;
		if (opt->has_arg == required_argument && eq == NULL)
			k++;			/* "--sni NAME" */
	}
	return 0;
}

void
ping_opts_defaults(struct ping_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->po_interval = 1;
	o->po_size = PING_DEFAULT_SIZE;
	o->po_wait = 2;
	o->po_family = AF_UNSPEC;
}

/* The name of the option that getopt_long just looked at, for messages. */
static const char *
opt_name(int c, char *buf, size_t len)
{
	size_t i;

	for (i = 0; long_opts[i].name != NULL; i++)
		if (long_opts[i].val == c && c >= 256) {
			snprintf(buf, len, "--%s", long_opts[i].name);
			return buf;
		}
	snprintf(buf, len, "-%c", c);
	return buf;
}

/* "--resume=1": 1 with "--resume" in buf when a is that mistake. */
static int
no_argument_given(const char *a, char *buf, size_t len)
{
	const struct option *opt;
	const char *eq;

	if (strncmp(a, "--", 2) != 0 || (eq = strchr(a, '=')) == NULL ||
	    (opt = long_match(a + 2, (size_t)(eq - a - 2))) == NULL ||
	    opt->has_arg != no_argument)
		return 0;
	snprintf(buf, len, "--%s", opt->name);
	return 1;
}

/* Options that only mean something with -S, for the conflict check. */
static int
tls_only_option(const struct ping_opts *o, const char **name)
{
	if (o->po_ca)
		*name = "--ca";
	else if (o->po_cert)
		*name = "--cert";
	else if (o->po_key)
		*name = "--key";
	else if (o->po_sni)
		*name = "--sni";
	else if (o->po_alpn)
		*name = "--alpn";
	else if (o->po_tls_version)
		*name = "--tls-version";
	else if (o->po_resume)
		*name = "--resume";
	else if (o->po_insecure)
		*name = "--insecure";
	else if (o->po_cert_days)
		*name = "--cert-days";
	else
		return 0;
	return 1;
}

/* The options against each other, after parsing. */
static int
check(struct ping_opts *o, int have_size, int have_count, int have_interval,
    int four, int six, char *err, size_t len)
{
	const char *name;
	size_t max;

	if (four && six)
		return fail(err, len, "-4 and -6 exclude each other");
	if (have_size && o->po_text)
		return fail(err, len, "-s and -m exclude each other "
		    "(-m sends TEXT as it is)");
	if (!o->po_tls && tls_only_option(o, &name))
		return fail(err, len, "%s needs -S (TLS)", name);
	if ((o->po_cert == NULL) != (o->po_key == NULL))
		return fail(err, len, "--cert and --key go together");
	if (o->po_resume && !o->po_new_conn)
		return fail(err, len, "--resume needs -N (a new connection "
		    "per probe); without -N all probes share one session");
	if (o->po_insecure && o->po_ca)
		return fail(err, len, "--insecure and --ca exclude each other");
	o->po_monitor = o->po_warn.th_set || o->po_crit.th_set ||
	    o->po_cert_days;
	if (o->po_monitor && o->po_json)
		return fail(err, len, "-j and monitoring mode (--warning, "
		    "--critical, --cert-days) exclude each other");
	if (o->po_warn.th_set && o->po_crit.th_set &&
	    (o->po_warn.th_rtt_ms > o->po_crit.th_rtt_ms ||
	    o->po_warn.th_loss_pct > o->po_crit.th_loss_pct))
		return fail(err, len, "the --warning threshold must not be "
		    "above the --critical one");
	if (o->po_udp && o->po_tls)
		o->po_proto = PING_DTLS;
	else if (o->po_udp)
		o->po_proto = PING_UDP;
	else if (o->po_tls)
		o->po_proto = PING_TLS;
	else
		o->po_proto = PING_TCP;
	max = o->po_proto == PING_DTLS ? PING_DTLS_MAX : o->po_udp ?
	    PING_UDP_MAX : PING_STREAM_MAX;
	if (o->po_size > max)
		return fail(err, len, "%s %zu is too large: at most %zu bytes "
		    "%s", o->po_text ? "-m TEXT of" : "-s", o->po_size, max,
		    o->po_proto == PING_DTLS ? "fit in a DTLS record" :
		    o->po_udp ? "fit in a UDP datagram" : "per probe");
	if (o->po_proto == PING_DTLS && o->po_tls_version == 13)
		return fail(err, len, "--tls-version 1.3: DTLS is 1.2 only");
	if (o->po_monitor) {
		if (!have_count)
			o->po_count = 5;
		if (!have_interval)
			o->po_interval = 0.2;
	}
	if (o->po_port == 0)
		o->po_port = o->po_tls ? PING_DEFAULT_TLS_PORT :
		    PING_DEFAULT_PORT;
	return 0;
}

int
ping_args_parse(struct ping_opts *o, int argc, char **argv, char *err,
    size_t errlen)
{
	unsigned long long v;
	char nbuf[32];
	int c, have_size = 0, have_count = 0, have_interval = 0;
	int four = 0, six = 0, n;
	const char *host;

	ping_opts_defaults(o);
	if (errlen)
		err[0] = '\0';
	optind = 0;		/* GNU: full re-initialisation */
	opterr = 0;
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o->po_udp = 1;
			break;
		case 'S':
			o->po_tls = 1;
			break;
		case 'c':
			if (parse_uint(optarg, 1, 1ULL << 53, &v) == -1)
				return fail(err, errlen, "-c %s: COUNT must be "
				    "a whole number of probes, at least 1", optarg);
			o->po_count = v;
			have_count = 1;
			break;
		case 'i':
			if (ping_parse_seconds(optarg, 0, 86400,
			    &o->po_interval) == -1)
				return fail(err, errlen, "-i %s: SECONDS must be "
				    "a number from 0 to 86400 (fractions "
				    "allowed)", optarg);
			have_interval = 1;
			break;
		case 's':
			if (parse_uint(optarg, 1, PING_STREAM_MAX, &v) == -1)
				return fail(err, errlen, "-s %s: SIZE must be "
				    "1 to %d bytes (%d with -u)", optarg,
				    PING_STREAM_MAX, PING_UDP_MAX);
			o->po_size = (size_t)v;
			have_size = 1;
			break;
		case 'm':
			if (*optarg == '\0')
				return fail(err, errlen, "-m: TEXT must not be "
				    "empty");
			o->po_text = optarg;
			o->po_size = strlen(optarg);
			break;
		case 'W':
			if (ping_parse_seconds(optarg, 0.001, 86400,
			    &o->po_wait) == -1)
				return fail(err, errlen, "-W %s: SECONDS must be "
				    "a number from 0.001 to 86400", optarg);
			break;
		case 'N':
			o->po_new_conn = 1;
			break;
		case 'q':
			o->po_quiet = 1;
			break;
		case 'j':
			o->po_json = 1;
			break;
		case '4':
			four = 1;
			o->po_family = AF_INET;
			break;
		case '6':
			six = 1;
			o->po_family = AF_INET6;
			break;
		case 'h':
			o->po_help = 1;
			return 0;
		case 'V':
			o->po_version = 1;
			return 0;
		case OPT_CA:
			o->po_ca = optarg;
			break;
		case OPT_CERT:
			o->po_cert = optarg;
			break;
		case OPT_KEY:
			o->po_key = optarg;
			break;
		case OPT_SNI:
			if (*optarg == '\0' || strlen(optarg) > 253)
				return fail(err, errlen, "--sni %s: NAME must "
				    "be 1 to 253 characters", optarg);
			o->po_sni = optarg;
			break;
		case OPT_ALPN:
			n = ping_parse_alpn(optarg, o->po_alpn_wire,
			    sizeof(o->po_alpn_wire));
			if (n == -1)
				return fail(err, errlen, "--alpn %s: LIST must "
				    "be comma-separated protocol names of 1 to "
				    "255 bytes", optarg);
			o->po_alpn = optarg;
			o->po_alpn_len = (size_t)n;
			break;
		case OPT_TLS_VERSION:
			if (strcmp(optarg, "1.2") == 0)
				o->po_tls_version = 12;
			else if (strcmp(optarg, "1.3") == 0)
				o->po_tls_version = 13;
			else
				return fail(err, errlen, "--tls-version %s: "
				    "must be 1.2 or 1.3", optarg);
			break;
		case OPT_RESUME:
			o->po_resume = 1;
			break;
		case OPT_INSECURE:
			o->po_insecure = 1;
			break;
		case OPT_WARNING:
		case OPT_CRITICAL:
			if (ping_parse_threshold(optarg, c == OPT_WARNING ?
			    &o->po_warn : &o->po_crit) == -1)
				return fail(err, errlen, "malformed %s "
				    "threshold \"%s\": expected RTT_MS,LOSS%% "
				    "(for example 100,20%%)",
				    opt_name(c, nbuf, sizeof(nbuf)), optarg);
			break;
		case OPT_CERT_DAYS:
			if (ping_parse_cert_days(optarg, &o->po_cert_warn,
			    &o->po_cert_crit, &o->po_cert_crit_set) == -1)
				return fail(err, errlen, "malformed --cert-days "
				    "\"%s\": expected WARN[,CRIT] days, CRIT "
				    "not above WARN (for example 30,7)", optarg);
			o->po_cert_days = 1;
			break;
		case ':':
			if (optopt >= 256 || optopt == 0)
				return fail(err, errlen, "%s needs an argument",
				    argv[optind - 1]);
			return fail(err, errlen, "-%c needs an argument",
			    optopt);
		default:
			if (no_argument_given(argv[optind - 1], nbuf,
			    sizeof(nbuf)))
				return fail(err, errlen, "%s takes no argument",
				    nbuf);
			if (optopt != 0 && optopt < 256)
				return fail(err, errlen, "unknown option -%c",
				    optopt);
			return fail(err, errlen, "unknown option %s",
			    argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return fail(err, errlen, "HOST is missing");
	host = argv[optind++];
	if (*host == '\0')
		return fail(err, errlen, "HOST must not be empty");
	o->po_host = host;
	if (optind < argc) {
		if (parse_uint(argv[optind], 1, 65535, &v) == -1)
			return fail(err, errlen, "PORT %s: must be a number "
			    "from 1 to 65535", argv[optind]);
		o->po_port = (int)v;
		optind++;
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument \"%s\" after "
		    "HOST and PORT", argv[optind]);
	return check(o, have_size, have_count, have_interval, four, six,
	    err, errlen);
}
