/*!
 * LiveInsight tracker — page views and custom events, nothing stored on the visitor's device.
 * Source of liveinsight/static/tracker.js; rebuild with `cd tracker && npm run build`.
 *
 *   <script defer src="https://…/tracker.js" data-api="https://api.example.com"></script>
 *
 * Attributes:
 *   data-api              API base URL; events go to {data-api}/api/events (default: the script's origin)
 *   data-allow-localhost  also track on localhost, 127.x.x.x, [::1] and file: pages
 *   data-respect-dnt      send nothing when Do Not Track or Global Privacy Control is on
 *   data-hash             hash-based routing: `#/route` is part of the page (a page view per route)
 *   data-persist-queue    keep refused events in sessionStorage across page loads of the tab
 *                         (stores data on the device: only for sites that have the visitor's consent)
 *   data-outbound         a click on a link to another host sends `outbound_click` {url}
 *   data-downloads        a click on a link to a file sends `download` {url}; a value
 *                         ("pdf,zip") replaces the default list of extensions
 *   data-404              this page is a "not found" page: `not_found` {url} instead of a page view
 *
 * Always: engaged time and the deepest scroll of each page view, sent once as `engagement`
 * when the page is hidden or left, or before the next page view of a single-page app.
 *
 * By default nothing is written to cookies, localStorage or sessionStorage: events carry no
 * visitor or session id, and the server derives one (docs/privacy.md). The only thing read is
 * the owner's opt-out, localStorage.liveinsight_ignore = "true".
 */
(function (win, doc) {
  'use strict';

  var QUEUE_KEY = 'liveinsight_queue';
  var MAX_QUEUED = 30; // refused events kept for retry; the oldest are dropped beyond this
  var MAX_BATCH = 10; // events per retry request
  var FIRST_RETRY_MS = 1000;
  var MAX_RETRY_MS = 60 * 1000;
  var IDLE_MS = 30 * 1000; // engaged time stops after this long without input
  var DOWNLOADS = 'pdf,zip,dmg,exe,msi,pkg,deb,rpm,gz,tgz,7z,rar,csv,xlsx,docx,pptx,mp3,mp4,mov,epub,iso,apk';

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

  function on(type, listener, target, capture) {
    (target || win).addEventListener(type, listener, capture);
  }

  function ignored() {
    try {
      return localStorage.getItem('liveinsight_ignore') == 'true';
    } catch (e) {}
  }

  var base = script.getAttribute('data-api') || (script.src && new URL(script.src).origin);
  var endpoint = base && base.replace(/\/+$/, '') + '/api/events';
  var hashRouting = has('data-hash');
  var persist = has('data-persist-queue');

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

  // The browser's IANA time zone ("Europe/Paris"): the server maps it to a country and does not store it.
  var timeZone;
  try {
    timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {}

  function uuid() {
    var c = win.crypto;
    return c && c.randomUUID
      ? c.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // Delivery. Every event carries `timestamp` (when it happened) and, set at each attempt,
  // `sent_at`, both on this device's clock: the server stamps the event `sent_at - timestamp`
  // before it received it, so a clock that is minutes off does not matter.
  // Each event is posted at once. One that is refused (network error, 408, 429, 5xx) waits
  // in a small queue in memory and is retried with exponential backoff (1 s, 2 s, … 60 s, and
  // never sooner than the answer's Retry-After), at once when the browser is back online, and
  // with sendBeacon when the page is hidden for good. Only with data-persist-queue is the
  // queue kept in sessionStorage, where the tab's next page finds it.
  var pending = [];
  var retryDelay = FIRST_RETRY_MS;
  var timer;
  var retrying;

  if (persist) {
    try {
      pending = JSON.parse(sessionStorage.getItem(QUEUE_KEY)) || [];
    } catch (e) {}
  }

  function body(events) {
    var now = Date.now();
    events.forEach(function (event) {
      event.sent_at = now;
    });
    return JSON.stringify(events[1] ? { events: events } : events[0]);
  }

  // Resolves to nothing when the events are done with (accepted, or invalid: not retried),
  // or to how long the server asked to wait (ms, 0 when it did not say) when refused.
  function deliver(events) {
    // A string body is sent as text/plain: no CORS preflight. keepalive lets it outlive the page.
    return fetch(endpoint, { method: 'POST', body: body(events), keepalive: true, credentials: 'omit' }).then(
      function (response) {
        if (/^(408|429|5..)$/.test(response.status)) return response.headers.get('Retry-After') * 1000 || 0;
      },
      function () {
        return 0;
      }
    );
  }

  function queue(add, remove) {
    pending = pending
      .filter(function (e) {
        return !remove || remove.indexOf(e) < 0;
      })
      .concat(add || [])
      .slice(-MAX_QUEUED);
    try {
      if (persist) {
        pending[0] ? sessionStorage.setItem(QUEUE_KEY, JSON.stringify(pending)) : sessionStorage.removeItem(QUEUE_KEY);
      }
    } catch (e) {}
  }

  function retry() {
    clearTimeout(timer);
    timer = 0;
    var events = pending.slice(0, MAX_BATCH);
    if (retrying || !events[0]) return;
    retrying = 1;
    deliver(events).then(function (wait) {
      retrying = 0;
      if (wait == null) {
        queue(0, events);
        retryDelay = FIRST_RETRY_MS;
        retry();
      } else {
        schedule(wait);
      }
    });
  }

  function schedule(wait) {
    timer = setTimeout(retry, Math.max(wait, retryDelay));
    retryDelay = Math.min(retryDelay * 2, MAX_RETRY_MS);
  }

  function make(eventType, props, url) {
    var event = {
      event_type: eventType,
      timestamp: Date.now(),
      page_url: url || pageUrl(),
      event_id: uuid(),
      tz: timeZone
    };
    if (props && typeof props == 'object') event.props = props;
    return event;
  }

  function send(eventType, props, landing) {
    var event = make(eventType, props);
    // The referrer is sent with the first page view of a page load, and only when it is
    // another site: on later pages of the visit document.referrer is this site itself.
    var referrer = doc.referrer;
    if (landing && referrer && referrer.indexOf(loc.origin + '/') != 0) event.referrer = referrer;
    deliver([event]).then(function (wait) {
      if (wait != null) {
        queue(event);
        timer || retrying || schedule(wait);
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

  // A URL as automatic events carry it: scheme, host and path (no user:password, query or fragment).
  function clean(url) {
    return url.origin + url.pathname;
  }

  // Engagement of the current page view: the seconds the page was visible and focused with an
  // input in the last IDLE_MS (counted by a one-second tick), and the deepest scroll (the
  // viewport's bottom, % of the page's height).
  var seconds, lastInput, depth, scrolled, engagedUrl;

  function scrollDepth() {
    var height = doc.documentElement.scrollHeight;
    return Math.min(100, Math.round(((win.scrollY + win.innerHeight) / height) * 100));
  }

  function input() {
    lastInput = Date.now();
  }

  setInterval(function () {
    if (!doc.hidden && doc.hasFocus() && Date.now() - lastInput < IDLE_MS) seconds++;
  }, 1000);

  // Sends the page view's engagement once (a beacon outlives the page), unless nothing happened
  // yet: a tab hidden at once and read later still sends its time when next hidden or left.
  function engagement() {
    if (engagedUrl && (seconds || scrolled)) {
      nav.sendBeacon(endpoint, body([make('engagement', { engaged_seconds: seconds, scroll_depth: depth }, engagedUrl)]));
      engagedUrl = 0;
    }
  }

  var lastPath;

  function pageView(force) {
    var path = loc.pathname + route();
    if (!force && lastPath == path) return;
    engagement();
    if (lastPath == null && has('data-404')) {
      // A "not found" page is not a page view, and its engagement is not measured.
      send('not_found', { url: clean(loc) }, 1);
    } else {
      send('page_view', 0, lastPath == null);
      engagedUrl = pageUrl();
    }
    lastPath = path;
    seconds = scrolled = 0;
    depth = scrollDepth();
    input();
  }

  ['mousemove', 'keydown', 'scroll', 'touchstart', 'click', 'focus'].forEach(function (type) {
    on(type, input, win, true); // any element's scroll or focus is input too
  });
  on('scroll', function () {
    scrolled = depth = Math.max(depth, scrollDepth()); // never 0: the viewport has a height
  });
  // Hidden: the page view's engagement goes out now. Shown again: that is input too.
  on('visibilitychange', function () {
    doc.hidden ? engagement() : input();
  }, doc);

  // Automatic events (opt-in): outbound links and downloads, on left, middle and modified clicks.
  var outbound = has('data-outbound');
  var downloads = has('data-downloads') && (script.getAttribute('data-downloads') || DOWNLOADS).split(/[\s,.]+/);

  function linkClick(e) {
    // Left clicks (with or without ctrl/meta/shift) are `click`, middle clicks `auxclick`;
    // an <a> exposes its resolved URL's parts (protocol, host, pathname…) itself. A click
    // dispatched at the document itself has no closest().
    var url = e.button < 2 && e.target.closest && e.target.closest('a[href]');
    if (!url) return;
    var type =
      downloads && downloads.indexOf(url.pathname.split('.').pop().toLowerCase()) >= 0
        ? 'download'
        : outbound && url.host && url.host != loc.host && 'outbound_click';
    if (type) send(type, { url: clean(url) });
  }
  if (outbound || downloads) {
    on('click', linkClick, doc, true);
    on('auxclick', linkClick, doc, true);
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
  on('popstate', function () {
    pageView();
  });
  if (hashRouting) on('hashchange', function () {
    pageView();
  });
  // A page restored from the back/forward cache does not run scripts again.
  on('pageshow', function (e) {
    if (e.persisted) pageView(1);
  });
  on('online', retry);
  // Last chance for what is still refused: a beacon outlives the page (its answer is not seen).
  // With data-persist-queue the events also stay queued for the tab's next page; the server
  // counts an event_id once.
  on('pagehide', function () {
    engagement();
    if (pending[0] && nav.sendBeacon && nav.sendBeacon(endpoint, body(pending)) && !persist) queue(0, pending);
  });

  // liveinsight('not_found') from a site's 404 template carries the page's URL like data-404.
  win.liveinsight = function (name, props) {
    send(name, props || (name == 'not_found' && { url: clean(loc) }));
  };

  pageView();
  // Calls made before this script loaded, through the documented stub.
  queued.forEach(function (args) {
    win.liveinsight.apply(win, args);
  });
  // Events refused on an earlier page of this tab (data-persist-queue).
  retry();
})(window, document);
