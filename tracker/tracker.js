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
 *   data-hash             hash-based routing: `#/route` is part of the page (a page view per route)
 *
 * An owner excludes their own browser with localStorage.liveinsight_ignore = "true".
 */
(function (win, doc) {
  'use strict';

  var SESSION_KEY = 'liveinsight_session';
  var QUEUE_KEY = 'liveinsight_queue';
  var SESSION_TIMEOUT_MS = 30 * 60 * 1000;
  var MAX_QUEUED = 30; // refused events kept for retry; the oldest are dropped beyond this
  var MAX_BATCH = 10; // events per retry request
  var FIRST_RETRY_MS = 1000;
  var MAX_RETRY_MS = 60 * 1000;

  // currentScript is null in modules and in some loaders (tag managers, rocket loaders):
  // then find our tag by its attributes or file name.
  var script =
    doc.currentScript ||
    doc.querySelector('script[data-api]') ||
    doc.querySelector('script[src*="tracker.js"]') ||
    doc.createElement('script');
  var loc = win.location;
  var nav = win.navigator;
  var history = win.history;
  var stub = win.liveinsight;
  var queued = (stub && stub.q) || [];

  function has(name) {
    return script.hasAttribute(name);
  }

  function ignored() {
    try {
      return localStorage.getItem('liveinsight_ignore') == 'true';
    } catch (e) {}
  }

  var base = script.getAttribute('data-api') || (script.src && new URL(script.src).origin);
  var endpoint = base && base.replace(/\/+$/, '') + '/api/events';
  var hashRouting = has('data-hash');

  var disabled =
    !endpoint ||
    ignored() ||
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

  function load(key) {
    try {
      return JSON.parse(sessionStorage.getItem(key));
    } catch (e) {}
  }

  function save(key, value) {
    try {
      sessionStorage.setItem(key, JSON.stringify(value));
    } catch (e) {}
  }

  // The session lives in sessionStorage (one tab, no cookies) and rotates after
  // 30 minutes without any event. Returns [id, isNewSession].
  function touchSession() {
    var now = Date.now();
    var session = load(SESSION_KEY);
    var isNew = !session || !session.id || !(now - session.t < SESSION_TIMEOUT_MS);
    if (isNew) session = { id: uuid() };
    session.t = now;
    save(SESSION_KEY, session);
    return [session.id, isNew];
  }

  // Delivery. Every event carries `timestamp` (when it happened) and, set at each attempt,
  // `sent_at`, both on this device's clock: the server stamps the event `sent_at - timestamp`
  // before it received it, so a clock that is minutes off does not matter.
  // Each event is posted at once. One that is refused (network error, 408, 429, 5xx) waits
  // in a small queue in sessionStorage, which outlives page loads in the tab, and is retried
  // with exponential backoff (1 s, 2 s, … 60 s), and at once when the browser is back online.
  var retryDelay = FIRST_RETRY_MS;
  var timer;
  var retrying;

  function deliver(events) {
    var now = Date.now();
    for (var i = 0; i < events.length; i++) events[i].sent_at = now;
    var body = JSON.stringify(events[1] ? { events: events } : events[0]);
    // A string body is sent as text/plain: no CORS preflight. keepalive lets it outlive the page.
    return fetch(endpoint, { method: 'POST', body: body, keepalive: true, credentials: 'omit' }).then(
      function (response) {
        return !/^(408|429|5..)$/.test(response.status);
      },
      noop
    );
  }

  function queue(add, remove) {
    var events = (load(QUEUE_KEY) || []).filter(function (e) {
      return !remove || remove.indexOf(e.event_id) < 0;
    });
    if (add) events.push(add);
    save(QUEUE_KEY, events.slice(-MAX_QUEUED));
    return events;
  }

  function retry() {
    clearTimeout(timer);
    timer = 0;
    var events = queue().slice(0, MAX_BATCH);
    if (retrying || !events[0]) return;
    retrying = 1;
    deliver(events).then(function (done) {
      retrying = 0;
      if (done) {
        queue(0, events.map(function (e) {
          return e.event_id;
        }));
        retryDelay = FIRST_RETRY_MS;
        retry();
      } else {
        schedule();
      }
    });
  }

  function schedule() {
    timer = setTimeout(retry, retryDelay);
    retryDelay = Math.min(retryDelay * 2, MAX_RETRY_MS);
  }

  function send(eventType, props, isPageView) {
    var session = touchSession();
    var event = {
      event_type: eventType,
      session_id: session[0],
      timestamp: Date.now(),
      page_url: pageUrl(),
      event_id: uuid()
    };
    // The referrer is sent once, with the first page view of a session, and only
    // when it is another site: later views' document.referrer is this site itself.
    var referrer = doc.referrer;
    if (isPageView && session[1] && referrer && referrer.indexOf(loc.origin + '/') != 0) {
      event.referrer = referrer;
    }
    if (props && typeof props == 'object') event.props = props;
    deliver([event]).then(function (done) {
      if (!done) {
        queue(event);
        timer || retrying || schedule();
      }
    });
  }

  // With data-hash a route after `#` (`#/settings`, `#!/settings`) is a path of its own,
  // sent as such: the server never stores fragments.
  function route() {
    return hashRouting ? loc.hash.replace(/^#!?\/?/, '').split('?')[0] : '';
  }

  function pageUrl() {
    var href = loc.href.split('#')[0];
    if (!route()) return href;
    var path = loc.pathname.replace(/\/?$/, '/') + route();
    return loc.origin + path + loc.search;
  }

  var lastPath;

  function pageView(force) {
    var path = loc.pathname + route();
    if (!force && lastPath == path) return;
    lastPath = path;
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
  if (hashRouting) win.addEventListener('hashchange', function () {
    pageView();
  });
  // A page restored from the back/forward cache does not run scripts again.
  win.addEventListener('pageshow', function (e) {
    if (e.persisted) pageView(1);
  });
  win.addEventListener('online', retry);

  win.liveinsight = function (name, props) {
    send(name, props);
  };

  pageView();
  // Calls made before this script loaded, through the documented stub.
  for (var i = 0; i < queued.length; i++) win.liveinsight.apply(win, queued[i]);
  // Events refused on an earlier page of this tab.
  retry();
})(window, document);
