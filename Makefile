# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs nm-cloud-setup where upstream's package puts it:
#   make && make install DESTDIR=/tmp/pkg PREFIX=/usr
# PREFIX defaults to /usr, not /usr/local: NetworkManager and systemd only look for dispatcher
# scripts and units under /usr/lib (and /etc). Node is needed at run time; node_modules is not.

PREFIX     ?= /usr
LIBEXECDIR ?= $(PREFIX)/libexec
UNITDIR    ?= $(PREFIX)/lib/systemd/system
NMLIBDIR   ?= $(PREFIX)/lib/NetworkManager
MANDIR     ?= $(PREFIX)/share/man
# The node the installed files run with (shebang and the unit's ExecStart).
NODE       ?= /usr/bin/node
INSTALL    ?= install
NPM        ?= npm

BUNDLE     := dist/nm-cloud-setup.cjs
DISPATCHER := $(NMLIBDIR)/dispatcher.d
SOURCES    := $(shell find src -name '*.ts') package-lock.json scripts/build.mjs

# The paths as written in systemd/ and the bundle; rewritten when installing elsewhere.
SOURCE_EXEC := /usr/libexec/nm-cloud-setup
SOURCE_NODE := /usr/bin/node

.PHONY: all install uninstall check
.DELETE_ON_ERROR:

all: $(BUNDLE)

$(BUNDLE): $(SOURCES)
	$(NPM) run build

check:
	$(NPM) test

install: $(BUNDLE)
	$(INSTALL) -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DISPATCHER)/pre-up.d $(DESTDIR)$(DISPATCHER)/no-wait.d
	sed '1s|^#!.*|#!/usr/bin/env -S $(NODE) --jitless --no-expose-wasm|' $(BUNDLE) > $(DESTDIR)$(LIBEXECDIR)/nm-cloud-setup.tmp
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/nm-cloud-setup.tmp
	mv -f $(DESTDIR)$(LIBEXECDIR)/nm-cloud-setup.tmp $(DESTDIR)$(LIBEXECDIR)/nm-cloud-setup
	sed -e 's|$(SOURCE_EXEC)|$(LIBEXECDIR)/nm-cloud-setup|' -e 's|$(SOURCE_NODE) |$(NODE) |' \
		systemd/nm-cloud-setup.service > $(DESTDIR)$(UNITDIR)/nm-cloud-setup.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/nm-cloud-setup.service
	$(INSTALL) -m 0644 systemd/nm-cloud-setup.timer $(DESTDIR)$(UNITDIR)/nm-cloud-setup.timer
	$(INSTALL) -m 0755 dispatcher/90-nm-cloud-setup.sh $(DESTDIR)$(DISPATCHER)/pre-up.d/90-nm-cloud-setup.sh
	# Upstream's layout: pre-up.d runs it blocking for pre-up; the dispatcher.d link (through
	# no-wait.d, so other scripts do not wait for it) runs it for every other action.
	ln -sfn ../pre-up.d/90-nm-cloud-setup.sh $(DESTDIR)$(DISPATCHER)/no-wait.d/90-nm-cloud-setup.sh
	ln -sfn no-wait.d/90-nm-cloud-setup.sh $(DESTDIR)$(DISPATCHER)/90-nm-cloud-setup.sh
	$(INSTALL) -m 0644 docs/nm-cloud-setup.8 $(DESTDIR)$(MANDIR)/man8/nm-cloud-setup.8

uninstall:
	rm -f $(DESTDIR)$(LIBEXECDIR)/nm-cloud-setup \
		$(DESTDIR)$(UNITDIR)/nm-cloud-setup.service $(DESTDIR)$(UNITDIR)/nm-cloud-setup.timer \
		$(DESTDIR)$(DISPATCHER)/90-nm-cloud-setup.sh \
		$(DESTDIR)$(DISPATCHER)/no-wait.d/90-nm-cloud-setup.sh \
		$(DESTDIR)$(DISPATCHER)/pre-up.d/90-nm-cloud-setup.sh \
		$(DESTDIR)$(MANDIR)/man8/nm-cloud-setup.8

# The Debian package (offline; see scripts/build-deb.sh). DEB_OUT names the file.
DEB_OUT ?= build/nm-cloud-setup.deb
.PHONY: deb
deb: $(BUNDLE)
	@mkdir -p $(dir $(DEB_OUT))
	./scripts/build-deb.sh $(DEB_OUT)
