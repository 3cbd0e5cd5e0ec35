// Airlock operator console: the only script (CSP script-src 'self', no inline
// script). Live refresh of Pending, countdowns, relative times, Copy buttons.
// Everything inserted into the page is either text (textContent) or the
// server's own escaped HTML for the pending rows.
'use strict';

(function () {
  var BACKGROUND = { 'x-console-background': '1' };

  function formatLeft(ms) {
    if (ms <= 0) return 'expired';
    var s = Math.floor(ms / 1000);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    var pad = function (n) { return n < 10 ? '0' + n : String(n); };
    return h > 0 ? h + ':' + pad(m) + ':' + pad(sec) : m + ':' + pad(sec);
  }

  function tickCountdowns() {
    var now = Date.now();
    document.querySelectorAll('[data-countdown]').forEach(function (el) {
      var end = Date.parse(el.getAttribute('data-countdown') || '');
      if (isNaN(end)) return;
      var left = end - now;
      el.textContent = formatLeft(left);
      el.classList.toggle('is-expired', left <= 0);
    });
  }

  function relative(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return '';
    var d = Math.round((Date.now() - t) / 1000);
    var future = d < 0;
    d = Math.abs(d);
    var text = d < 60 ? d + ' s' : d < 3600 ? Math.round(d / 60) + ' min' : d < 86400 ? Math.round(d / 3600) + ' h' : Math.round(d / 86400) + ' d';
    return future ? 'in ' + text : text + ' ago';
  }

  function tickRelative(root) {
    (root || document).querySelectorAll('time[data-relative]').forEach(function (el) {
      var iso = el.getAttribute('datetime') || '';
      if (!el.hasAttribute('title')) el.setAttribute('title', el.textContent || '');
      el.textContent = relative(iso);
    });
  }

  function setupCopy() {
    document.querySelectorAll('button[data-copy]').forEach(function (btn) {
      btn.addEventListener('click', function () {
        var source = document.getElementById(btn.getAttribute('data-copy') || '');
        if (!source) return;
        var text = (source.textContent || '').trim();
        var done = function () {
          var label = btn.textContent;
          btn.textContent = 'Copied';
          setTimeout(function () { btn.textContent = label; }, 1500);
        };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
        } else {
          selectText(source);
        }
      });
    });
  }

  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    if (sel) { sel.removeAllRanges(); sel.addRange(range); }
  }

  // Pending: fetch the rows every 2 s; swap them only when the list changed and
  // the operator is not typing in them.
  function setupLive() {
    var table = document.querySelector('table[data-live]');
    var status = document.getElementById('live-status');
    if (!table) return;
    var url = table.getAttribute('data-live') || '';
    var stale = function (text) {
      if (!status) return;
      status.textContent = text;
      status.classList.add('is-stale');
    };
    var fresh = function () {
      if (!status) return;
      status.textContent = 'Live · updated ' + new Date().toLocaleTimeString();
      status.classList.remove('is-stale');
    };
    var poll = function () {
      fetch(url, { credentials: 'same-origin', headers: BACKGROUND, cache: 'no-store', redirect: 'manual' })
        .then(function (res) {
          if (res.status === 401 || res.type === 'opaqueredirect') {
            stale('Your session has ended. Reload to sign in again.');
            return null;
          }
          if (!res.ok) throw new Error(String(res.status));
          return res.text();
        })
        .then(function (html) {
          if (html === null) return;
          fresh();
          var doc = new DOMParser().parseFromString('<table>' + html + '</table>', 'text/html');
          var next = doc.querySelector('tbody');
          var current = table.querySelector('tbody');
          if (!next || !current) return;
          if (next.getAttribute('data-version') === current.getAttribute('data-version')) return;
          var active = document.activeElement;
          var typing = active && current.contains(active) && active.tagName === 'INPUT' && active.value !== '';
          if (typing) return;
          current.replaceWith(document.importNode(next, true));
          tickRelative(table);
          setTimeout(poll, 2000);
          return 'scheduled';
        })
        .then(function (scheduled) { if (scheduled !== 'scheduled') setTimeout(poll, 2000); })
        .catch(function () {
          stale('Connection lost; retrying…');
          setTimeout(poll, 4000);
        });
    };
    setTimeout(poll, 2000);
  }

  // Loading state for actions: the pressed button shows it is working, and a
  // double click cannot send the same action twice.
  function setupBusyButtons() {
    document.addEventListener('submit', function (e) {
      var btn = e.submitter;
      if (!btn || (e.target && e.target.method === 'get')) return;
      btn.setAttribute('aria-busy', 'true');
      btn.classList.add('is-busy');
      setTimeout(function () { btn.disabled = true; }, 0);
    });
    // Coming back with the Back button restores the page from cache: make its buttons usable again.
    window.addEventListener('pageshow', function () {
      document.querySelectorAll('button.is-busy').forEach(function (b) {
        b.disabled = false;
        b.classList.remove('is-busy');
        b.removeAttribute('aria-busy');
      });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    setupBusyButtons();
    tickCountdowns();
    tickRelative();
    setInterval(tickCountdowns, 1000);
    setInterval(function () { tickRelative(); }, 30000);
    setupCopy();
    setupLive();
  });
})();
