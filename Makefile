# devmon: build the nginx module and probed, run the tests, start the demo.

SHELL :=		/bin/bash

NGINX ?=		/usr/sbin/nginx
NGINX_SRC ?=		/usr/share/nginx/src
BUILD ?=		$(CURDIR)/build
MODULE :=		$(BUILD)/ngx_http_devmon_module.so
MODULE_SRCS :=		$(wildcard ngx_devmon_module/*.c ngx_devmon_module/*.h)

CC ?=			cc
CFLAGS_UNIT :=		-g -O1 -Wall -Wextra -Werror -Wno-unused-parameter \
			-Ingx_devmon_module
UNIT_TESTS :=		$(BUILD)/unit/ws_codec $(BUILD)/unit/jwt $(BUILD)/unit/event

# Debian packages for building, testing and running everything here;
# .ci/run and 'make deps' install exactly this list.
DEPS :=			build-essential nginx nginx-dev libhiredis-dev \
			libjwt-dev libjansson-dev libssl-dev libsnmp-dev \
			liboping-dev libcurl4-openssl-dev libevent-dev \
			redis-server snmpd snmp openssl curl iproute2 \
			procps systemd perl libtest-base-perl \
			libjson-pp-perl liburi-perl libio-socket-ssl-perl \
			python3 python3-websockets python3-aiosmtpd \
			clang libclang-rt-14-dev fping \
			dpkg-dev debhelper lintian chromium valgrind \
			linux-perf

TEST_ENV :=		TEST_NGINX_BINARY=$(NGINX) \
			TEST_NGINX_LOAD_MODULES=$(MODULE) \
			DEVMON_ROOT=$(CURDIR) DEVMON_BUILD=$(BUILD) \
			PERL5LIB=$(CURDIR)/t/lib$$(perl -MTest::Nginx::Socket \
			-e1 2>/dev/null || echo ":$(CURDIR)/t/lib/fallback")

.PHONY: all module probed alertd unit test check deps demo fuzz bench \
	bench-probed bench-selftest package clean


all: module probed alertd

module: $(MODULE)

$(BUILD)/nginx/objs/Makefile: config
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && . ./conf_flags && ./configure \
		--with-cc-opt="-g -O2 -fPIC -fstack-protector-strong \
			-Wformat -Werror=format-security -D_FORTIFY_SOURCE=2" \
		--with-ld-opt="-Wl,-z,relro -Wl,-z,now -fPIC" \
		"$${NGX_CONF_FLAGS[@]}" \
		--add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log \
		|| { tail -20 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(BUILD)/nginx/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	@# a new file, never a rewrite: a running nginx has the old one mapped
	cp $(BUILD)/nginx/objs/ngx_http_devmon_module.so $@.tmp
	mv -f $@.tmp $@

probed:
	$(MAKE) -C probed

alertd: probed
	$(MAKE) -C alertd

unit: $(UNIT_TESTS)

$(BUILD)/unit/ws_codec: ngx_devmon_module/ngx_devmon_ws_codec.c \
		ngx_devmon_module/ngx_devmon_ws_codec.h \
		t/unit/test_ws_codec.c
	mkdir -p $(BUILD)/unit
	$(CC) $(CFLAGS_UNIT) -o $@ ngx_devmon_module/ngx_devmon_ws_codec.c \
		t/unit/test_ws_codec.c

$(BUILD)/unit/jwt: ngx_devmon_module/ngx_devmon_jwt.c \
		ngx_devmon_module/ngx_devmon_jwt.h t/unit/test_jwt.c \
		ngx_devmon_module/ngx_devmon_ws_codec.c \
		ngx_devmon_module/ngx_devmon_ws_codec.h
	mkdir -p $(BUILD)/unit
	$(CC) $(CFLAGS_UNIT) -o $@ ngx_devmon_module/ngx_devmon_jwt.c \
		ngx_devmon_module/ngx_devmon_ws_codec.c \
		t/unit/test_jwt.c -ljwt -ljansson -lcrypto -lm

$(BUILD)/unit/event: ngx_devmon_module/ngx_devmon_event.c \
		ngx_devmon_module/ngx_devmon_event.h t/unit/test_event.c
	mkdir -p $(BUILD)/unit
	$(CC) $(CFLAGS_UNIT) -o $@ ngx_devmon_module/ngx_devmon_event.c \
		t/unit/test_event.c

# the dashboard's uPlot, and playwright-core for the browser suite
NODE_MODULES :=		dashboard/node_modules/.package-lock.json

$(NODE_MODULES): dashboard/package.json dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund

test: all unit $(NODE_MODULES)
	$(TEST_ENV) prove -r t

check: test

deps:
	@if [ "$$(id -u)" != 0 ]; then \
		echo "run as root, or: sudo apt-get update &&" \
			"sudo apt-get install -y $(DEPS)"; exit 1; fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y $(DEPS)
	@# Debian 12's own nodejs is 18; the browser suite's playwright-core
	@# wants 20, which machines built from NodeSource's packages have
	command -v npm >/dev/null || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm

fuzz: $(BUILD)/fuzz/ws_codec

$(BUILD)/fuzz/ws_codec: ngx_devmon_module/ngx_devmon_ws_codec.c \
		ngx_devmon_module/ngx_devmon_ws_codec.h t/fuzz/fuzz_ws_codec.c
	mkdir -p $(BUILD)/fuzz
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-Ingx_devmon_module -o $@ \
		ngx_devmon_module/ngx_devmon_ws_codec.c t/fuzz/fuzz_ws_codec.c

bench: all
	DEVMON_BUILD=$(BUILD) bench/run

bench-selftest:
	DEVMON_BUILD=$(BUILD) bench/selftest

bench-probed: all
	bench/probed/run

package:
	packaging/build-deb $(BUILD)/pkg

demo:
	dashboard/demo/run

clean:
	rm -rf $(BUILD)
	$(MAKE) -C probed clean
	$(MAKE) -C alertd clean
