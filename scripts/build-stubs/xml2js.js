// SPDX-License-Identifier: LGPL-2.1-or-later
// Build-time stand-in for xml2js (see scripts/build.mjs). dbus-next constructs an XML builder for
// every bus connection (and a parser for every proxy object), but only uses them to answer or
// read introspection, which nm-cloud-setup never does: it makes plain method calls. The real
// xml2js (with xmlbuilder and sax, a quarter of the bundle) is a file of its own beside the
// bundle, nm-cloud-setup.xml2js.cjs, evaluated on the first real use; so dbus-next's code cache
// does not carry its bytecode either.
let real;
const load = () => (real ??= require(require('node:path').join(__dirname, 'nm-cloud-setup.xml2js.cjs')));

class Builder {
  constructor(options) {
    this.options = options;
  }
  buildObject(object) {
    return new (load().Builder)(this.options).buildObject(object);
  }
}

class Parser {
  constructor(options) {
    this.parser = new (load().Parser)(options);
  }
  parseString(text, callback) {
    return this.parser.parseString(text, callback);
  }
}

module.exports = { Builder, Parser };
