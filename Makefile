# secho - TLS-capable echo service.  Plain make; see README.md.
#
#   make            build build/secho and build/secho-tcp (its plain TCP
#                   engine; installed in LIBEXECDIR, compiled into secho:
#                   give the same PREFIX/LIBEXECDIR to make and make install)
#                   and build/secho-ping, the client (installed in BINDIR)
#   make run        serve conf/secho-dev.cfg in the foreground (loopback)
#   make check      unit tests (cmocka), end-to-end tests, secho-bench smoke
#   make check SANITIZE=1   the same with ASan + UBSan (objects in build/san)
#   make install    DESTDIR= PREFIX=/usr
#   make deps       install missing build and test packages (apt-get)
#   make deb        Debian package into build/deb/ (then: deb-lint, deb-test,
#                   deb-boot-test; see packaging/)

VERSION   = 0.1.0
PREFIX   ?= /usr/local
SBINDIR  ?= $(PREFIX)/sbin
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR  ?= $(PREFIX)/lib/systemd/system
LIBEXECDIR ?= $(PREFIX)/lib/secho
DESTDIR  ?=

CC       ?= cc
PKG_CONFIG ?= pkg-config
PKGS      = openssl libconfig

CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Iinclude -DSECHO_VERSION='"$(VERSION)"'
CFLAGS   += -DSECHO_LIBEXECDIR='"$(LIBEXECDIR)"'
CFLAGS   += -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-unused-parameter
CFLAGS   += -fstack-protector-strong -fPIE
CPPFLAGS ?= -D_FORTIFY_SOURCE=2
LDFLAGS  += -pie -Wl,-z,relro,-z,now

BUILD     = build
TCPENG_LDFLAGS = -static-pie
ifeq ($(SANITIZE),1)
TCPENG_LDFLAGS =
BUILD     = build/san
CFLAGS   += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
CPPFLAGS  = -U_FORTIFY_SOURCE
LDFLAGS  += -fsanitize=address,undefined
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

# Everything but main.c goes into a static library the unit tests link.
# The daemon, by concern (doc/DESIGN.md).  secho-tcp links the libc-only
# part of it: the engine, a connection's life, plain TCP echo.
LIB_SRCS  = src/addr.c src/proxy.c src/config.c src/config_tls.c src/config_sni.c src/config_hint.c src/cfgfile.c src/log.c src/sig.c src/msg.c \
            src/connreq.c src/slotidx.c src/conn.c src/echo.c src/tcp_echo.c \
            src/engine.c src/forklean.c src/tls.c src/tls_certs.c src/tls_sni.c src/tls_keylog.c src/tls_echo.c src/sslerr.c src/tlsmem.c \
            src/dtls_cookie.c src/dtls_front.c src/dtls_echo.c \
            src/udp.c src/udp_guard.c src/listen.c src/conntab.c src/privs.c src/pidfile.c \
            src/policy.c src/engines.c src/engines_life.c src/workers.c src/reload.c \
            src/shutdown.c src/master.c src/start.c src/notify.c
LIB_OBJS  = $(LIB_SRCS:src/%.c=$(BUILD)/%.o)
MAIN_OBJ  = $(BUILD)/main.o
BIN       = $(BUILD)/secho
# The plain TCP engine: only libc (secho_tcp.c says why).
TCPENG_OBJ = $(BUILD)/secho_tcp.o
TCPENG    = $(BUILD)/secho-tcp
LIBSECHO  = $(BUILD)/libsecho.a

# secho-ping (issue 12), the client: its own objects and library, so no
# line of it reaches the daemon; it shares addr.o and sslerr.o.
PING_LIB_SRCS = src/ping_args.c src/ping_stats.c src/ping_payload.c \
            src/ping_report.c src/ping_conn.c src/ping_tls.c src/ping_probe.c
PING_LIB_OBJS = $(PING_LIB_SRCS:src/%.c=$(BUILD)/%.o)
PING_OBJ  = $(BUILD)/ping_main.o
PING      = $(BUILD)/secho-ping
LIBPING   = $(BUILD)/libping.a
PING_LIBS := $(shell $(PKG_CONFIG) --libs openssl 2>/dev/null || echo -lssl -lcrypto)

UNIT_TESTS = test_addr test_proxy test_connreq test_msg test_conntab test_engine test_tlsmem test_config test_log test_echo test_udp test_tls test_tls_more test_dtls \
             test_ping_args test_ping_stats test_ping_payload test_ping_report
UNIT_BINS  = $(UNIT_TESTS:%=$(BUILD)/tests/%)

.PHONY: all run check unit integration install clean deps certs lint fuzz

all: $(BIN) $(TCPENG) $(PING)

$(BUILD)/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBSECHO): $(LIB_OBJS)
	$(AR) rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIBSECHO)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# No $(PKG_LIBS): a link error here means libc-only code grew a dependency.
# Static (still position-independent): a clone of a process with a single
# mapped object costs a quarter less than with libc.so and ld.so mapped
# (bench/RESULTS.md).  The sanitizers need the dynamic runtime.
$(TCPENG): $(TCPENG_OBJ) $(LIBSECHO)
	$(CC) $(CFLAGS) $(LDFLAGS) $(TCPENG_LDFLAGS) -o $@ $^

$(LIBPING): $(PING_LIB_OBJS)
	$(AR) rcs $@ $^

$(PING): $(PING_OBJ) $(LIBPING) $(LIBSECHO)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PING_LIBS) -lm

# The client's tests (shortest stem: this rule wins over the next).
$(BUILD)/tests/test_ping%: tests/test_ping%.c $(LIBPING) $(LIBSECHO)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< \
	    $(LIBPING) $(LIBSECHO) $(PKG_LIBS) $(CMOCKA_LIBS) -lm

$(BUILD)/tests/%: tests/%.c $(LIBSECHO)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< \
	    $(LIBSECHO) $(PKG_LIBS) $(CMOCKA_LIBS)

deps:
	@sh scripts/deps.sh

certs:
	@sh certs/gen.sh certs

run: deps $(BIN) $(TCPENG) certs
	./$(BIN) -f -c conf/secho-dev.cfg

unit: $(UNIT_BINS) certs
	@fail=0; for t in $(UNIT_BINS); do \
	    echo "== $$t"; ./$$t || fail=1; \
	done; exit $$fail

integration: $(BIN) $(TCPENG) $(PING) certs
	SECHO_BIN=$(BIN) SECHO_PING_BIN=$(PING) python3 tests/integration/run.py

check: deps check-docs
	@$(MAKE) --no-print-directory $(BIN) $(TCPENG) $(PING) $(UNIT_BINS)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory bench-smoke

install: $(BIN) $(TCPENG) $(PING)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/secho
	install -m 0755 $(PING) $(DESTDIR)$(BINDIR)/secho-ping
	install -m 0755 $(TCPENG) $(DESTDIR)$(LIBEXECDIR)/secho-tcp
	install -d $(DESTDIR)$(SYSCONFDIR)
	install -m 0644 conf/secho.cfg $(DESTDIR)$(SYSCONFDIR)/secho.cfg
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 doc/secho.8 $(DESTDIR)$(MANDIR)/man8/secho.8
	install -m 0644 doc/secho.cfg.5 $(DESTDIR)$(MANDIR)/man5/secho.cfg.5
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 0644 doc/secho-ping.1 $(DESTDIR)$(MANDIR)/man1/secho-ping.1
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/sbin/secho|$(SBINDIR)/secho|g' \
	    -e 's|/etc/secho.cfg|$(SYSCONFDIR)/secho.cfg|g' \
	    packaging/secho.service > $(DESTDIR)$(UNITDIR)/secho.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/secho.service

# Coverage-guided fuzzing of the PROXY parser (clang's libFuzzer); see fuzz/README.
fuzz:
	@mkdir -p $(BUILD)/fuzz-corpus
	clang -g -O1 -std=c11 -D_GNU_SOURCE -Iinclude -fsanitize=fuzzer,address,undefined \
	    fuzz/fuzz_proxy.c src/proxy.c -o $(BUILD)/fuzz_proxy
	cp -n fuzz/corpus/* $(BUILD)/fuzz-corpus/
	$(BUILD)/fuzz_proxy -max_len=4200 -max_total_time=60 $(BUILD)/fuzz-corpus

clean:
	rm -rf build

# Documentation: every setting of src/config.c is in secho.cfg(5), and the
# man pages format cleanly.  Part of check.
check-docs:
	@sh tests/test_manpage.sh

# Debian package, built from a clean copy in build/deb/secho-VERSION/;
# the .deb lands in build/deb/.  The checks take the .deb already in
# build/deb/ (built first when there is none; "make deb deb-lint" rebuilds):
# deb-lint: lintian, systemd-analyze verify and the unit's exposure score;
# deb-test: piuparts (install, purge, upgrade from a previous build);
# deb-boot-test: the package under a real systemd in a container.
# Packaging tools are installed when missing (scripts/deps-deb.sh).
deb:
	@sh scripts/deps-deb.sh build
	@sh packaging/build-deb.sh

deb-lint:
	@sh scripts/deps-deb.sh build
	@sh packaging/lint-deb.sh

deb-test:
	@sh scripts/deps-deb.sh test
	@sh packaging/test-deb.sh

deb-boot-test:
	@sh scripts/deps-deb.sh boot
	@sh packaging/boot-test.sh

.PHONY: check-docs deb deb-lint deb-test deb-boot-test

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(TCPENG_OBJ:.o=.d)
-include $(PING_LIB_OBJS:.o=.d) $(PING_OBJ:.o=.d)

# Benchmark (issue 6): the load generator and the epoll ceiling server are
# built into build/bench/ (installed nowhere); "make bench" starts secho
# (release build), the peers (installed with apt-get when missing) and the
# ceiling on loopback, and writes bench/RESULTS.md.  See bench/run.sh.
BENCH_TOOLS  = build/bench/secho-bench build/bench/ceiling build/bench/scale
BENCH_CFLAGS = -std=c11 -O2 -g -Wall -Wextra -Werror -pthread

build/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $(shell $(PKG_CONFIG) --cflags openssl) -o $@ $< \
	    $(shell $(PKG_CONFIG) --libs openssl)

bench-tools: $(BENCH_TOOLS)

# Correctness only (no timing): every secho-bench mode for ~1 s against
# secho, failing on any mismatched byte or lost datagram.
bench-smoke: $(BENCH_TOOLS)
	@$(MAKE) --no-print-directory SANITIZE= build/secho build/secho-tcp certs
	@sh bench/smoke.sh

# BASELINE=COMMIT: that commit's secho too, built into build/baseline-*,
# side by side in the same run ("before and after" in RESULTS.md).
bench: $(BENCH_TOOLS)
	@$(MAKE) --no-print-directory SANITIZE= build/secho build/secho-tcp build/secho-ping certs
	@BENCH_BASELINE="$(BASELINE)" sh bench/run.sh

# 25,000 plain connections held, each echoing once a second (bench/scale.sh).
bench-scale: $(BENCH_TOOLS)
	@$(MAKE) --no-print-directory SANITIZE= build/secho build/secho-tcp
	@sh bench/scale.sh

# secho-ping against secho-bench (issue 12): rate and round trip, its own
# section of bench/RESULTS.md.  See bench/ping.sh.
bench-ping: $(BENCH_TOOLS)
	@$(MAKE) --no-print-directory SANITIZE= build/secho build/secho-tcp build/secho-ping
	@sh bench/ping.sh

# DTLS against TLS, socat and the ceiling (issue 14): a Markdown section
# for bench/RESULTS.md on standard output.  See bench/dtls.sh.
bench-dtls: $(BENCH_TOOLS)
	@$(MAKE) --no-print-directory SANITIZE= build/secho build/secho-tcp certs
	@sh bench/dtls.sh

.PHONY: bench bench-tools bench-smoke bench-scale bench-ping bench-dtls
