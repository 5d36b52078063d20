/*!
 * LiveInsight tracker — cookieless page views and custom events.
 * Source of liveinsight/static/tracker.js; rebuild with `cd tracker && npm run build`.
 *
 *   <script defer src="https://…/tracker.js" data-api="https://api.example.com"></script>
 *
 * Attributes:
 *   data-api              API base URL; events go to {data-api}/api/events (default: the script's origin)
 *   data-allow-localhost  also track on localhost, 127.x.x.x, [::1] and file: pages
 *   data-respect-dnt      send nothing when Do Not Track or Global Privacy Control is on
 */
(function (win, doc) {
  'use strict';

  var SESSION_KEY = 'liveinsight_session';
  var SESSION_TIMEOUT_MS = 30 * 60 * 1000;

  var script = doc.currentScript;
  var loc = win.location;
  var nav = win.navigator;
  var history = win.history;
  var stub = win.liveinsight;
  var queued = (stub && stub.q) || [];

  function has(name) {
    return script.hasAttribute(name);
  }

  var endpoint =
    (script.getAttribute('data-api') || new URL(script.src).origin).replace(/\/+$/, '') + '/api/events';

  var disabled =
    (!has('data-allow-localhost') &&
      (/^(localhost|127(\.\d+){3}|\[::1\])$/.test(loc.hostname) || loc.protocol == 'file:')) ||
    (has('data-respect-dnt') &&
      (nav.doNotTrack == '1' || win.doNotTrack == '1' || nav.globalPrivacyControl));

  function noop() {}

  if (disabled) {
    // Keep the public function callable so pages never throw, but drop everything.
    win.liveinsight = noop;
    return;
  }

  function uuid() {
    var c = win.crypto;
    return c && c.randomUUID
      ? c.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // The session lives in sessionStorage (one tab, no cookies) and rotates after
  // 30 minutes without any event. Returns [id, isNewSession].
  function touchSession() {
    var now = Date.now();
    var session;
    try {
      session = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    } catch (e) {}
    var isNew = !session || !session.id || !(now - session.t < SESSION_TIMEOUT_MS);
    if (isNew) session = { id: uuid() };
    session.t = now;
    try {
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    } catch (e) {}
    return [session.id, isNew];
  }

  function send(eventType, props, isPageView) {
    var session = touchSession();
    var event = {
      event_type: eventType,
      session_id: session[0],
      timestamp: Date.now(),
      page_url: loc.href,
      event_id: uuid()
    };
    // The referrer is sent once, with the first page view of a session, and only
    // when it is another site: later views' document.referrer is this site itself.
    var referrer = doc.referrer;
    if (isPageView && session[1] && referrer && referrer.indexOf(loc.origin + '/') != 0) {
      event.referrer = referrer;
    }
    if (props && typeof props == 'object') event.props = props;
    var body = JSON.stringify(event);
    try {
      if (nav.sendBeacon(endpoint, new Blob([body], { type: 'text/plain' }))) return;
    } catch (e) {}
    // No beacon (or its queue is full): a plain fetch that outlives the page.
    // A string body is sent as text/plain, so there is no CORS preflight.
    win.fetch && fetch(endpoint, { method: 'POST', body: body, keepalive: true, credentials: 'omit' })['catch'](noop);
  }

  var lastPath;

  function pageView(force) {
    if (!force && lastPath == loc.pathname) return;
    lastPath = loc.pathname;
    send('page_view', 0, 1);
  }

  // Single-page apps: a new path through the History API is a new page view.
  function wrap(method) {
    var original = history[method];
    history[method] = function () {
      var result = original.apply(this, arguments);
      pageView();
      return result;
    };
  }
  wrap('pushState');
  wrap('replaceState');
  win.addEventListener('popstate', function () {
    pageView();
  });
  // A page restored from the back/forward cache does not run scripts again.
  win.addEventListener('pageshow', function (e) {
    if (e.persisted) pageView(1);
  });

  win.liveinsight = function (name, props) {
    send(name, props);
  };

  pageView();
  // Calls made before this script loaded, through the documented stub.
  for (var i = 0; i < queued.length; i++) win.liveinsight.apply(win, queued[i]);
})(window, document);
