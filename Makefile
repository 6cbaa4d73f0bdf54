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
	$(INSTALL) -d $(DESTDIR)$(PKGLIBDIR)
	$(INSTALL) -m 0644 $(SEPARATE_BUNDLES) $(DESTDIR)$(PKGLIBDIR)/
	# Only the loader is run; a library file with a shebang but no exec bit confuses packagers
	# (lintian), so the bundle's first line becomes a comment of the same role (line numbers kept).
	sed '1s|^#!.*|// nm-cloud-setup: run through $(LIBEXECDIR)/nm-cloud-setup|' $(BUNDLE) > $(DESTDIR)$(PKGLIBDIR)/nm-cloud-setup.cjs
	chmod 0644 $(DESTDIR)$(PKGLIBDIR)/nm-cloud-setup.cjs
	$(INSTALL) -m 0644 loader/make-code-cache.cjs $(DESTDIR)$(PKGLIBDIR)/make-code-cache.cjs
	sed -e '1s|^#!.*|#!/usr/bin/env -S $(NODE) $(UNIT_NODE_FLAGS)|' \
		-e "s|'$(SOURCE_BUNDLE_REL)'|'$(BUNDLE_REL)'|" loader/nm-cloud-setup.cjs > $(DESTDIR)$(LIBEXECDIR)/nm-cloud-setup.tmp
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/nm-cloud-setup.tmp
	mv -f $(DESTDIR)$(LIBEXECDIR)/nm-cloud-setup.tmp $(DESTDIR)$(LIBEXECDIR)/nm-cloud-setup
	$(MAKE) --no-print-directory install-code-cache
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
		$(DESTDIR)$(MANDIR)/man8/nm-cloud-setup.8 \
		$(foreach f,$(notdir $(BUNDLE) $(SEPARATE_BUNDLES)),$(DESTDIR)$(PKGLIBDIR)/$(f) $(DESTDIR)$(PKGLIBDIR)/$(f).v8-cache) \
		$(DESTDIR)$(PKGLIBDIR)/make-code-cache.cjs
	rmdir $(DESTDIR)$(PKGLIBDIR) 2>/dev/null || true

# --- V8 code cache (docs/performance.md) ---
# $(libexecdir)/nm-cloud-setup is a small loader (loader/nm-cloud-setup.cjs); the bundle files live
# in PKGLIBDIR, each with the bytecode cache V8 made of it. V8 only accepts a cache made by the same node
# with the same flags, so the cache is written with $(NODE) and the unit's own flags, and must be
# written again after node is upgraded (`make install-code-cache`, or a package's trigger); a
# stale or missing cache costs time, never a run.
PKGLIBDIR  ?= $(PREFIX)/lib/nm-cloud-setup
# got, dbus-next and xml2js, bundled apart so that each gets its own cache (scripts/build.mjs).
SEPARATE_BUNDLES := dist/nm-cloud-setup.got.cjs dist/nm-cloud-setup.dbus-next.cjs dist/nm-cloud-setup.xml2js.cjs
# node's flags in the unit's ExecStart= (between the node binary and the tool).
UNIT_NODE_FLAGS := $(shell sed -n 's|^ExecStart=[^ ]* \(.*\) [^ ]*$$|\1|p' systemd/nm-cloud-setup.service)
# The loader finds the bundle relative to itself (DESTDIR staging works unchanged).
SOURCE_BUNDLE_REL := ../lib/nm-cloud-setup/nm-cloud-setup.cjs
BUNDLE_REL := $(shell realpath -m --relative-to=$(LIBEXECDIR) $(PKGLIBDIR))/nm-cloud-setup.cjs

.PHONY: install-code-cache
install-code-cache:
	@if [ -x '$(NODE)' ]; then \
		'$(NODE)' $(UNIT_NODE_FLAGS) $(DESTDIR)$(PKGLIBDIR)/make-code-cache.cjs $(DESTDIR)$(PKGLIBDIR)/nm-cloud-setup.cjs; \
	else \
		echo 'make: $(NODE) is not here: no V8 code cache written (run make install-code-cache where it runs)'; \
	fi

# The Debian package (offline; see scripts/build-deb.sh). DEB_OUT names the file.
DEB_OUT ?= build/nm-cloud-setup.deb
.PHONY: deb
deb: $(BUNDLE)
	@mkdir -p $(dir $(DEB_OUT))
	./scripts/build-deb.sh $(DEB_OUT)
