// Preloaded into the conformance suite (NODE_OPTIONS=--require): resolve *.localhost to
// the loopback address, as browsers do and glibc does not, so wiki hosts such as
// notes.localhost:PORT are reachable in tests.
const dns = require("node:dns");
const lookup = dns.lookup;
dns.lookup = function (host, options, callback) {
  if (typeof host === "string" && host.endsWith(".localhost")) host = "127.0.0.1";
  return lookup.call(this, host, options, callback);
};
const plookup = dns.promises.lookup;
dns.promises.lookup = function (host, options) {
  if (typeof host === "string" && host.endsWith(".localhost")) host = "127.0.0.1";
  return plookup.call(this, host, options);
};
