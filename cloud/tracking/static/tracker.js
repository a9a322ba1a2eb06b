/* echeck tracker: page views and identify calls for the retailer's site (docs/tracking.md).
   Plain JS, no dependencies. Never sends a raw phone or e-mail: they are normalized and hashed
   (SHA-256) here. The cloud serves this file with the site's settings in C. */
(function (w, d) {
  "use strict";
  var C = __EC_CONFIG__; // {key, v}
  var MAX_BATCH = 40000, IDLE = 30 * 60 * 1000, BID = "ec_bid", TWO_YEARS = 63072000;
  var QKEY = "ec_q_" + C.key, SKEY = "ec_s_" + C.key;
  var script = d.currentScript || d.querySelector('script[src*="/t.js"]');
  var collect = (C.collect || (script && script.src) || "").replace(/[^\/?#]*([?#].*)?$/, "collect");
  var firstParty = collect.indexOf(location.origin + "/") === 0; // the retailer proxies the collector path
  var consent = true, busy = false, failures = 0, timer = 0, memQ = [], memS = null, ymId = null, pageBid = null;
  // Ids this page handed to a beacon, or has in a fetch now: no second beacon for them (see beacon()).
  var beaconed = {}, inflight = {};
  var params = {};
  try { new URLSearchParams(location.search).forEach(function (v, k) { params[k] = v; }); } catch (e) {}

  function uuid() {
    var c = w.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    var b = new Uint8Array(16), h = "", i;
    c.getRandomValues(b);
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    for (i = 0; i < 16; i++) h += (b[i] + 256).toString(16).slice(1) + (i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
    return h;
  }
  function load(key, dflt) {
    try { var v = w.localStorage.getItem(key); return v ? JSON.parse(v) : dflt; } catch (e) { return dflt; }
  }
  function save(key, value) {
    try { w.localStorage.setItem(key, JSON.stringify(value)); return true; } catch (e) { return false; }
  }
  function cookie(name) {
    var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }
  function browserId() {
    var id = cookie(BID);
    if (id) return id;
    if (!pageBid) pageBid = uuid();
    // Behind the retailer's proxy the collector sets ec_bid itself (HttpOnly, 2 years): the script must not.
    if (!firstParty)
      d.cookie = BID + "=" + pageBid + "; max-age=" + TWO_YEARS + "; path=/; samesite=lax" +
        (location.protocol == "https:" ? "; secure" : "");
    return pageBid;
  }
  function sessionId() {
    var now = Date.now(), s = load(SKEY, null) || memS;
    if (!s || now - s.t > IDLE) s = { id: uuid(), t: now };
    s.t = now; memS = s;
    save(SKEY, s);
    return s.id;
  }
  function ymClientId() {
    if (ymId) return ymId;
    var uid = cookie("_ym_uid");
    if (uid) return (ymId = uid);
    if (C.ym && typeof w.ym == "function") {
      try { w.ym(C.ym, "getClientID", function (id) { ymId = String(id); }); } catch (e) {}
    }
    return null;
  }

  // Normalization of REFERENCE.md ("Normalization and hashing"), as receipts/contact.py does it.
  function normPhone(text) {
    var t = String(text).normalize("NFKC").trim(), digits;
    if (!t || !/^[\d\s()+\-.]+$/.test(t)) return null;
    digits = t.replace(/\D/g, "");
    if (t.charAt(0) != "+") {
      if (digits.length == 11 && /^[78]/.test(digits)) digits = "7" + digits.slice(1);
      else if (digits.length == 10) digits = "7" + digits;
      else return null;
    }
    if (digits.charAt(0) == "7") return /^7[3-9]\d{9}$/.test(digits) ? digits : null;
    return /^[1-9]\d{7,14}$/.test(digits) ? digits : null;
  }
  function normEmail(text) {
    var t = String(text).normalize("NFKC").trim().toLowerCase();
    return /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(t) ? t : null;
  }
  function sha256(text) {
    return w.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)).then(function (buf) {
      var b = new Uint8Array(buf), h = "", i;
      for (i = 0; i < b.length; i++) h += (b[i] + 256).toString(16).slice(1);
      return h;
    });
  }
  function identifiers(data) {
    var out = {}, jobs = [], phone = data.phone && normPhone(data.phone), email = data.email && normEmail(data.email);
    if (data.user_id != null && data.user_id !== "") out.user_id = String(data.user_id).slice(0, 200);
    if (!(w.crypto && w.crypto.subtle)) return Promise.resolve(out); // no SHA-256 here: never send the raw value
    if (phone) jobs.push(sha256(phone).then(function (h) { out.phone = h; }));
    if (email) jobs.push(sha256(email).then(function (h) { out.email = h; }));
    return Promise.all(jobs).then(function () { return out; });
  }

  function event(type, extra) {
    var e = {
      id: uuid(), type: type, bid: browserId(), sid: sessionId(), at: new Date().toISOString(),
      url: location.href.slice(0, 2000), ref: d.referrer ? d.referrer.slice(0, 2000) : undefined, utm: {}
    };
    ["source", "medium", "campaign", "term", "content"].forEach(function (k) {
      if (params["utm_" + k]) e.utm[k] = params["utm_" + k].slice(0, 200);
    });
    ["yclid", "gclid", "ec_click"].forEach(function (k) { if (params[k]) e[k] = params[k].slice(0, 200); });
    var ym = ymClientId();
    if (ym) e.ym = ym;
    for (var k in extra) e[k] = extra[k];
    return e;
  }
  function queue() { return load(QKEY, null) || memQ; }
  function enqueue(e) {
    if (!consent) return;
    var q = queue();
    q.push(e);
    if (q.length > 1000) q.splice(0, q.length - 1000);
    memQ = q;
    save(QKEY, q);
    schedule(50);
  }
  function batch(q) {
    var out = [], size = 20, i, n;
    for (i = 0; i < q.length; i++) {
      n = JSON.stringify(q[i]).length + 1;
      if (out.length && size + n > MAX_BATCH) break;
      if (n > MAX_BATCH) continue;
      out.push(q[i]); size += n;
    }
    return out;
  }
  function drop(sent) {
    var ids = {}, q;
    sent.forEach(function (e) { ids[e.id] = 1; });
    q = queue().filter(function (e) { return !ids[e.id]; });
    memQ = q;
    save(QKEY, q);
  }
  function body(events) { return JSON.stringify({ v: 1, events: events }); }
  function schedule(ms) {
    if (!timer) timer = setTimeout(function () { timer = 0; flush(); }, ms);
  }
  function flush() {
    if (busy || !consent) return;
    var q = queue(), events = batch(q);
    if (!events.length) return;
    busy = true;
    inflight = {};
    events.forEach(function (e) { inflight[e.id] = 1; });
    w.fetch(collect, {
      method: "POST", body: body(events), keepalive: true, credentials: "same-origin",
      headers: { "Content-Type": "text/plain;charset=UTF-8" }
    }).then(function (r) {
      busy = false; inflight = {};
      if (r.status >= 500 || r.status == 429 || r.status == 408) throw r; // retried; other 4xx: the data was bad
      failures = 0;
      drop(events);
      // what was queued while this fetch was out (its flush found us busy) goes next
      if (queue().length) schedule(0);
    }).catch(function () {
      busy = false; inflight = {};
      failures++;
      schedule(Math.min(60000, 1000 * Math.pow(2, failures - 1)) * (0.5 + Math.random()));
    });
  }
  // The page is hidden or leaving: what is still queued goes by beacon. A beacon's answer is never seen (a
  // 429 or 5xx, a dropped connection), so its events stay queued: the next page's fetch sends them again and
  // drops them on a 2xx, the collector skipping the ids it already has. At least once, never lost.
  // Events of a keepalive fetch still in flight are left to it (it outlives the page) and stay queued too.
  function beacon() {
    if (!consent || !navigator.sendBeacon) return;
    var q = queue().filter(function (e) { return !beaconed[e.id] && !inflight[e.id]; }), events;
    while ((events = batch(q)).length) {
      if (!navigator.sendBeacon(collect, body(events))) break;
      events.forEach(function (e) { beaconed[e.id] = 1; });
      q = q.filter(function (e) { return !beaconed[e.id]; });
    }
  }

  function track(type, data) {
    data = data || {};
    var props = {}, k;
    for (k in data) if (k != "phone" && k != "email" && k != "user_id" && typeof data[k] != "object") props[k] = data[k];
    if (type == "pageview") return enqueue(event("pageview", { props: props }));
    if (!consent) return;
    identifiers(data).then(function (ids) { enqueue(event(type, { ids: ids, props: props })); });
  }
  function command(name, arg, more) {
    if (name == "consent") {
      var was = consent;
      consent = arg !== false;
      if (!consent) { memQ = []; save(QKEY, []); }
      else if (!was && pendingView) { pendingView = false; track("pageview"); }
      return;
    }
    if (name == "config") { for (var k in arg) C[k] = arg[k]; return; }
    if (name == "page" || name == "pageview") return track("pageview", arg);
    if (name == "track") return track(String(arg), more);
    if (/^(identify|subscribe|login|order|signup)$/.test(name)) return track(name, arg);
  }

  var pending = (w.ec && w.ec.q) || [], pendingView = true, i;
  w.ec = function () { command.apply(null, arguments); };
  w.ec.normPhone = normPhone; w.ec.normEmail = normEmail; w.ec.sha256 = sha256; w.ec.flush = flush;
  for (i = 0; i < pending.length; i++) if (pending[i][0] == "consent" || pending[i][0] == "config") command.apply(null, pending[i]);
  if (consent && C.pageview !== false) { pendingView = false; track("pageview"); }
  for (i = 0; i < pending.length; i++) if (pending[i][0] != "consent" && pending[i][0] != "config") command.apply(null, pending[i]);
  w.addEventListener("pagehide", beacon);
  d.addEventListener("visibilitychange", function () {
    if (d.visibilityState == "hidden") beacon();
    else schedule(0); // back: confirm what the beacon carried
  });
  schedule(0);
})(window, document);
